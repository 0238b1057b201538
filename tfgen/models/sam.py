"""Sparse Access Memory on its paper's synthetic tasks (Rae et al. 2016, arXiv 1610.09027, Sec. 5).

`SAMModel` is a `SequenceTaskModel` whose core is a memory-augmented LSTM:
`tfgen.layers.SparseMemory` (`core="sparse"`, SAM) or
`tfgen.layers.DenseMemoryCell` (`core="dense"`, the dense access memory the
paper compares with), on copy, repeat copy or associative recall.

SAM's step costs O(K) in the memory size only with its loops compiled: under
XLA the memory is updated in place, while graph mode copies it at every
step. Train with `model.compile(..., jit_compile=True)` (`--jit_compile` in
`python -m training`) for large memories.
"""

from tfgen import registry
from tfgen.checks import check_choice
from tfgen.layers.memory import DenseMemoryCell
from tfgen.layers.sparse_memory import DEFAULT_NUM_NEIGHBOURS, SparseMemory
from tfgen.models.sequence_task import SequenceTaskModel, data_hparams

CORES = ("sparse", "dense")


@registry.register(
    "sam",
    dataset="copy",
    data_hparams=data_hparams,
    signatures=("serving_default", "log_prob"),
)
class SAMModel(SequenceTaskModel):
    """An LSTM with a sparse (SAM) or dense external memory, on copy or associative recall.

    Args:
      core: "sparse" (SAM, `SparseMemory`) or "dense" (`DenseMemoryCell`).
      units: int, LSTM units of the controller.
      memory_size: int N, the words of the memory.
      word_size: int W, the width of a word.
      num_reads: int H, the read heads.
      num_neighbours: int K, the words each sparse read reaches.
      index: "exact" or "lsh", how the sparse core finds the K nearest words.
      layout, seq_len, input_size, num_categories, num_labels, target_size:
        the task's sizes (`SequenceTaskModel`; set from the dataset).
    """

    def __init__(
        self,
        core="sparse",
        units=100,
        memory_size=128,
        word_size=32,
        num_reads=1,
        num_neighbours=DEFAULT_NUM_NEIGHBOURS,
        index="exact",
        layout="targets",
        seq_len=41,
        input_size=9,
        num_categories=0,
        num_labels=0,
        target_size=8,
        **kwargs,
    ):
        super().__init__(
            layout, seq_len, input_size, num_categories, num_labels, target_size, **kwargs
        )
        self.core_name = check_choice(core, "core", CORES)
        self.memory = dict(
            units=units, memory_size=memory_size, word_size=word_size, num_reads=num_reads
        )
        self.sparse = dict(num_neighbours=num_neighbours, index=index)
        self.build_core()

    def make_cell(self):
        return DenseMemoryCell(**self.memory, name="memory")

    def make_core(self):
        if self.core_name == "dense":
            return super().make_core()
        return SparseMemory(**self.memory, **self.sparse, name="core")
