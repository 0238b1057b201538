"""Grid LSTM on its paper's tasks (Kalchbrenner, Danihelka & Graves 2015, arXiv 1507.01526).

`GridLSTMModel` is a `SequenceTaskModel` whose core is a Grid LSTM:

- `core="grid"`: the 2-D (depth x time) `tfgen.layers.GridLSTMCell`, the
  paper's 2-LSTM for character-level language modelling (Sec. 4.3) and
  15-digit addition (Sec. 4.2);
- `core="grid_1d"`: the 1-D `tfgen.layers.GridLSTM1D` over depth applied to
  each input step on its own (no recurrence in time), the paper's 1-LSTM for
  k-bit parity (Sec. 4.1, a sequence of one step);
- `core="lstm"`: the stacked LSTM baseline, `num_layers` `LSTMCell`s (choose
  `units` for an equal parameter count).
"""

import tensorflow as tf

from tfgen import registry
from tfgen.checks import check_choice, check_int
from tfgen.layers.grid_lstm import GridLSTM1D, GridLSTMCell
from tfgen.models.sequence_task import (
    SequenceTaskModel,
    data_hparams,
    stacked_lstm_cell,
)

CORES = ("grid", "grid_1d", "lstm")


@registry.register(
    "grid_lstm",
    dataset="text",
    data_hparams=data_hparams,
    signatures=("serving_default", "log_prob"),
)
class GridLSTMModel(SequenceTaskModel):
    """A Grid LSTM with a softmax (or Bernoulli) output layer, on text, long addition or parity.

    Defaults are the paper's best character-level model on Hutter Wikipedia
    (arXiv 1507.01526 Sec. 4.3): a tied 2-LSTM of 6 layers of 1000 units,
    here on the bundled `text` (bytes, 256 categories).

    Args:
      core: "grid" (2-D depth x time grid), "grid_1d" (1-D grid over depth,
        per step) or "lstm" (a stacked LSTM baseline).
      units: int, the size of every hidden and memory vector.
      num_layers: int, the depth of the grid (or of the stacked LSTM).
      tied: bool, one block's weights for all layers of the grid.
      layout, seq_len, input_size, num_categories, num_labels, target_size:
        the task's sizes (`SequenceTaskModel`; set from the dataset).
    """

    def __init__(
        self,
        core="grid",
        units=1000,
        num_layers=6,
        tied=True,
        layout="tokens",
        seq_len=128,
        input_size=256,
        num_categories=256,
        num_labels=256,
        target_size=0,
        **kwargs,
    ):
        super().__init__(
            layout, seq_len, input_size, num_categories, num_labels, target_size, **kwargs
        )
        self.core_name = check_choice(core, "core", CORES)
        self.units = check_int(units, "units")
        self.num_layers = check_int(num_layers, "num_layers")
        self.tied = bool(tied)
        self.build_core()

    def make_cell(self):
        if self.core_name == "lstm":
            return stacked_lstm_cell(self.units, self.num_layers)
        # 1507.01526 Sec. 3-4.3: the 2-D grid along depth and time, depth prioritized.
        return GridLSTMCell(self.units, self.num_layers, tied=self.tied, name="grid")

    def make_core(self):
        if self.core_name != "grid_1d":
            return super().make_core()
        # 1507.01526 Sec. 4.1: the 1-D grid along depth maps each input vector to its output.
        grid = GridLSTM1D(self.units, self.num_layers, tied=self.tied, name="grid")
        return tf.keras.layers.TimeDistributed(grid, name="core")
