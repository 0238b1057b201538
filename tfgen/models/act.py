"""Adaptive Computation Time on its paper's tasks (Graves 2016, arXiv 1603.08983, Sec. 3).

`ACTModel` is a `SequenceTaskModel` whose core is `tfgen.layers.ACTCell`
around a simple RNN (`core="rnn"`, the parity network of Sec. 3.1) or an LSTM
(`core="lstm"`, the logic, addition and sort networks of Sec. 3.2-3.4). The
cell adds the ponder cost `time_penalty * sum_t (N(t) + R(t))` to the
gradient of every training step (Eq. 12-13, through R only); the model reports
it and the ponder steps as metrics. `max_ponder_steps=1` is the paper's
baseline, the same network with one fixed step per input.
"""

import tensorflow as tf

from tfgen import registry
from tfgen.checks import check_choice, check_int
from tfgen.layers.act import ACTCell
from tfgen.models.sequence_task import (
    SequenceTaskModel,
    data_hparams,
    stacked_lstm_cell,
)

CORES = ("rnn", "lstm")


@registry.register(
    "act",
    dataset="parity",
    data_hparams=data_hparams,
    signatures=("serving_default", "log_prob"),
)
class ACTModel(SequenceTaskModel):
    """An ACT recurrent network with a dense output layer, on parity, logic, addition or sort.

    Defaults are the parity network of arXiv 1603.08983 Sec. 3.1: 64-bit
    inputs, one hidden layer of 128 tanh units, at most 100 ponder steps,
    epsilon 0.01 (Sec. 3); the paper sweeps `time_penalty`.

    Args:
      core: "rnn" (a `SimpleRNNCell` of tanh units) or "lstm" (an `LSTMCell`),
        the inner cell that ACT repeats.
      units: int, the inner cell's units (paper: 128 for parity and logic,
        512 for addition and sort).
      max_ponder_steps: int M, the cap on the ponder steps; 1 gives the
        paper's fixed-computation baseline.
      epsilon: float, halting at a cumulative halting probability of
        `1 - epsilon`.
      time_penalty: float tau, the weight of the ponder cost.
      layout, seq_len, input_size, num_categories, num_labels, target_size:
        the task's sizes (`SequenceTaskModel`; set from the dataset).

    Metrics add `ponder_steps`, the mean of N(t), and `ponder_cost`, the mean
    of N(t) + R(t), over the input steps of each sequence (padding included).
    `serving_default` adds both per step, [B, T] ([B, 1] for parity).
    """

    def __init__(
        self,
        core="rnn",
        units=128,
        max_ponder_steps=100,
        epsilon=0.01,
        time_penalty=0.001,
        layout="target",
        seq_len=1,
        input_size=64,
        num_categories=0,
        num_labels=2,
        target_size=0,
        **kwargs,
    ):
        super().__init__(
            layout, seq_len, input_size, num_categories, num_labels, target_size, **kwargs
        )
        self.core_name = check_choice(core, "core", CORES)
        self.units = check_int(units, "units")
        self.max_ponder_steps = max_ponder_steps
        self.epsilon = epsilon
        self.time_penalty = time_penalty
        self.build_core()

    @property
    def metric_names(self):
        return super().metric_names + ("ponder_steps", "ponder_cost")

    def make_cell(self):
        # 1603.08983 Sec. 3.1-3.4: a tanh RNN or an LSTM, repeated by ACT.
        cell = (
            tf.keras.layers.SimpleRNNCell(self.units, name="rnn")
            if self.core_name == "rnn"
            else stacked_lstm_cell(self.units)
        )
        return ACTCell(
            cell,
            max_ponder_steps=self.max_ponder_steps,
            epsilon=self.epsilon,
            time_penalty=self.time_penalty,
            return_ponder=True,
            name="act",
        )

    def split_core_outputs(self, outputs):
        outputs, ponder_cost, ponder_steps = outputs
        # 1603.08983 Eq. 11: rho_t = N(t) + R(t) per input step.
        return outputs, {"ponder_cost": ponder_cost[..., 0], "ponder_steps": ponder_steps[..., 0]}

    def task_losses(self, features, training=False):
        nats, metrics, extras = super().task_losses(features, training)
        metrics.update({name: tf.reduce_mean(value, -1) for name, value in extras.items()})
        return nats, metrics, extras
