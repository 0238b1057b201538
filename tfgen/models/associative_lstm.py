"""Associative LSTM on its paper's tasks (Danihelka et al. 2016, arXiv 1602.03032, Sec. 5).

`AssociativeLSTMModel` is a `SequenceTaskModel` whose core is the
`tfgen.layers.AssociativeLSTMCell` (`core="associative"`), or the paper's
LSTM baseline (`core="lstm"`, one `LSTMCell`; choose `units` for an equal
parameter count), on episodic copy, XML modelling and variable assignment.
"""

from tfgen import registry
from tfgen.checks import check_choice, check_int
from tfgen.layers.associative_lstm import DEFAULT_NUM_COPIES, AssociativeLSTMCell
from tfgen.models.sequence_task import (
    SequenceTaskModel,
    data_hparams,
    stacked_lstm_cell,
)

CORES = ("associative", "lstm")


@registry.register(
    "associative_lstm",
    dataset="episodic_copy",
    data_hparams=data_hparams,
    signatures=("serving_default", "log_prob"),
)
class AssociativeLSTMModel(SequenceTaskModel):
    """An Associative LSTM with a softmax output layer, on episodic copy, XML or assignment.

    Args:
      core: "associative" (the Associative LSTM) or "lstm" (an LSTM baseline).
      units: int, complex units of the Associative LSTM (real output size
        `2 * units`) or units of the LSTM.
      num_copies: int, the redundant memory copies of the Associative LSTM
        (arXiv 1602.03032 Sec. 3).
      permutation_seed: int, the seed of the copies' fixed random permutations.
      layout, seq_len, input_size, num_categories, num_labels, target_size:
        the task's sizes (`SequenceTaskModel`; set from the dataset).
    """

    def __init__(
        self,
        core="associative",
        units=64,
        num_copies=DEFAULT_NUM_COPIES,
        permutation_seed=0,
        layout="targets",
        seq_len=121,
        input_size=10,
        num_categories=0,
        num_labels=10,
        target_size=0,
        **kwargs,
    ):
        super().__init__(
            layout, seq_len, input_size, num_categories, num_labels, target_size, **kwargs
        )
        self.core_name = check_choice(core, "core", CORES)
        self.units = check_int(units, "units")
        self.num_copies = num_copies
        self.permutation_seed = permutation_seed
        self.build_core()

    def make_cell(self):
        if self.core_name == "lstm":
            return stacked_lstm_cell(self.units)
        # 1602.03032 Sec. 4: the Associative LSTM with redundant memory copies.
        return AssociativeLSTMCell(
            self.units, self.num_copies, seed=self.permutation_seed, name="associative_lstm"
        )
