"""Recurrent cores on sequence tasks: the shared model of ACT, Grid LSTM and Associative LSTM.

`SequenceTaskModel` runs a recurrent core over the input steps and predicts
the targets of each step with a dense head. It reads the three layouts of the
`tfgen.data` tasks (`layout`):

- `"targets"`: `inputs` float [B, T, input_size] (or int symbol ids [B, T]
  when `num_categories > 0`), per-step `targets` and a `mask` [B, T] marking
  the steps that carry a target (`logic`, `addition`, `sort`,
  `long_addition`, `copy`, `repeat_copy`, `episodic_copy`, `xml`,
  `variable_assignment`).
- `"target"`: `inputs` float [B, input_size] and one int `target` [B], a
  sequence of one step (`parity`).
- `"tokens"`: `tokens` int [B, T]; each token is predicted from the ones
  before it (`text`, character-level language modelling).

Targets are classes (`num_labels > 0`; `target_size > 0` of them per step,
as the digits of `addition`, else one per step) or Bernoulli bits
(`num_labels = 0`, `target_size` bits per step, as `copy`). The loss is the
masked cross-entropy summed over the target positions and averaged over the
sequences (the per-sequence objective of arXiv 1603.08983 Eq. 12). Metrics:
`nats_per_target` and the sequence error rate `error_rate` (a sequence is
wrong if any of its targets is, the error of arXiv 1603.08983 Sec. 3), plus
`bit_errors` per sequence for bit targets; `bits_per_char` for `"tokens"`.
"""

import math

import tensorflow as tf

from tfgen.checks import check_choice, check_int
from tfgen.models.base import GenerativeModel
from tfgen.signatures import signature_function

LAYOUTS = ("targets", "target", "tokens")


def stacked_lstm_cell(units, num_layers=1):
    """An `LSTMCell(units)`, or `num_layers` of them stacked (the papers' LSTM baselines)."""
    cells = [tf.keras.layers.LSTMCell(units, name=f"lstm_{i}") for i in range(num_layers)]
    return cells[0] if num_layers == 1 else tf.keras.layers.StackedRNNCells(cells, name="lstm")


def data_hparams(info):
    """The hyper-parameters a task's `tfgen.data.DatasetInfo` fixes (layout and sizes)."""
    features = info.features
    if "tokens" in features:
        num_categories = info.num_categories
        return dict(
            layout="tokens",
            seq_len=features["tokens"].shape[0],
            input_size=num_categories,
            num_categories=num_categories,
            num_labels=num_categories,
            target_size=0,
        )
    inputs = features["inputs"]
    symbols = inputs.dtype.is_integer
    if "target" in features:
        layout, seq_len, target_size = "target", 1, 0
    else:
        targets = features["targets"]
        layout, seq_len = "targets", inputs.shape[0]
        target_size = targets.shape[1] if targets.shape.rank == 2 else 0
        if targets.dtype.is_floating:  # Bernoulli bits: no classes.
            return dict(
                layout=layout,
                seq_len=seq_len,
                input_size=inputs.shape[-1],
                num_categories=0,
                num_labels=0,
                target_size=target_size,
            )
    return dict(
        layout=layout,
        seq_len=seq_len,
        input_size=info.num_categories if symbols else inputs.shape[-1],
        num_categories=info.num_categories if symbols else 0,
        num_labels=info.num_labels or info.num_categories,
        target_size=target_size,
    )


def _reduce_per_sequence(values):
    """Sums `values` [B, ...] over all axes but the batch axis: [B]."""
    return tf.reduce_sum(tf.reshape(values, [tf.shape(values)[0], -1]), axis=-1)


class SequenceTaskModel(GenerativeModel):
    """A recurrent core, a dense head per step, and the loss and metrics of the tasks.

    Subclasses set their own hyper-parameters, implement `make_cell()` (the
    Keras RNN cell of the core) and call `self.build_core()` at the end of
    their constructor. They may override `make_core()` (a layer mapping
    [B, T, input_size] to [B, T, features]) and `split_core_outputs` (extra
    per-step outputs of the core, e.g. ACT's ponder steps).

    The hyper-parameters are the task's sizes; `data_hparams(info)` derives them from a
    dataset's info.

    Args:
      layout: "targets", "target" or "tokens" (see the module docstring).
      seq_len: int T, the steps of an example (1 for "target").
      input_size: int, the size of the float input vectors (the one-hot size
        of symbol inputs).
      num_categories: int, 0 for float input vectors, else the number of input
        symbols (int ids, one-hot encoded).
      num_labels: int, the classes of each target; 0 for Bernoulli bits.
      target_size: int, the targets per step: 0 for one (targets [B, T]), else
        targets [B, T, target_size] (the digits of a sum, the bits of a vector).

    Calling the model on features returns the logits: [B, num_labels] for
    "target", else [B, T, (target_size,) num_labels] or, for bits,
    [B, T, target_size].
    """

    def __init__(
        self,
        layout="targets",
        seq_len=10,
        input_size=1,
        num_categories=0,
        num_labels=2,
        target_size=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.layout = check_choice(layout, "layout", LAYOUTS)
        self.seq_len = check_int(seq_len, "seq_len")
        self.num_categories = check_int(num_categories, "num_categories", 0)
        self.input_size = self.num_categories or check_int(input_size, "input_size")
        self.num_labels = check_int(num_labels, "num_labels", 0)
        self.target_size = check_int(target_size, "target_size", 0)
        if self.num_labels == 0 and self.target_size == 0:
            raise ValueError("target_size: expected >= 1 for bit targets (num_labels=0), got 0.")
        if self.layout == "tokens" and (self.num_categories == 0 or self.seq_len < 2):
            raise ValueError(
                f'layout "tokens": expected num_categories >= 1 and seq_len >= 2, got '
                f"num_categories={self.num_categories}, seq_len={self.seq_len}."
            )
        self.head = tf.keras.layers.Dense(
            max(self.target_size, 1) * max(self.num_labels, 1), name="head"
        )

    @property
    def metric_names(self):
        if self._hparams["layout"] == "tokens":
            return ("bits_per_char",)
        bits = self._hparams["num_labels"] == 0
        return ("nats_per_target", "error_rate") + (("bit_errors",) if bits else ())

    # ---------------------------------------------------------------- network
    def make_cell(self):
        """The Keras RNN cell of the core."""
        raise NotImplementedError

    def make_core(self):
        """The core: a layer mapping inputs [B, T, input_size] to features [B, T, ...]."""
        return tf.keras.layers.RNN(self.make_cell(), return_sequences=True, name="core")

    def build_core(self):
        """Creates `self.core`; called by subclasses once their hyper-parameters are set."""
        self.core = self.make_core()

    def split_core_outputs(self, outputs):
        """(features [B, T, F], dict of extra per-step outputs [B, T]) of the core's outputs."""
        return outputs, {}

    def _encode(self, inputs):
        """Inputs as float [B, T, input_size]: symbols one-hot, a "target" vector one step."""
        if self.num_categories:
            return tf.one_hot(tf.cast(inputs, tf.int32), self.num_categories)
        inputs = tf.cast(inputs, tf.float32)
        return inputs[:, None] if self.layout == "target" else inputs

    def forward(self, inputs, training=False):
        """(logits, extras) of inputs, laid out as the model's `inputs` (or `tokens`) feature."""
        outputs, extras = self.split_core_outputs(
            self.core(self._encode(inputs), training=training)
        )
        if self.layout == "target":
            outputs = outputs[:, -1]
        logits = self.head(outputs)
        if self.num_labels and self.target_size:
            shape = tf.concat([tf.shape(logits)[:-1], [self.target_size, self.num_labels]], 0)
            logits = tf.reshape(logits, shape)
        return logits, extras

    def _task(self, features):
        """(inputs, targets, weights) of `features`; weights [B, ...] broadcast to the targets."""
        if self.layout == "tokens":
            tokens = features["tokens"]
            targets = tokens[:, 1:]
            return tokens[:, :-1], targets, tf.ones(tf.shape(targets), tf.float32)
        if self.layout == "target":
            target = features["target"]
            return features["inputs"], target, tf.ones(tf.shape(target), tf.float32)
        return features["inputs"], features["targets"], tf.cast(features["mask"], tf.float32)

    def call(self, features, training=False):
        return self.forward(self._task(features)[0], training)[0]

    # ------------------------------------------------------------------- loss
    def _target_terms(self, logits, targets, weights):
        """Per-sequence (nats, number of targets, wrong targets), each [B]."""
        if self.target_size:  # [B, T] step weights over the classes or bits of each step.
            weights = tf.broadcast_to(weights[..., None], tf.shape(logits)[:3])
        # 1603.08983 Eq. 12: the task loss, summed over the sequence's targets.
        if self.num_labels:
            targets = tf.cast(targets, tf.int32)
            # Categorical cross-entropy of each target class.
            nats = tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits)
            wrong = tf.not_equal(tf.argmax(logits, -1, output_type=tf.int32), targets)
        else:
            targets = tf.cast(targets, logits.dtype)
            # Bernoulli cross-entropy of each bit.
            nats = tf.nn.sigmoid_cross_entropy_with_logits(targets, logits)
            wrong = tf.not_equal(tf.cast(logits > 0, targets.dtype), targets)
        return (
            _reduce_per_sequence(weights * nats),
            _reduce_per_sequence(weights),
            _reduce_per_sequence(weights * tf.cast(wrong, weights.dtype)),
        )

    def task_losses(self, features, training=False):
        """(per-sequence nats [B], metrics dict of [B] values, extras of the core)."""
        inputs, targets, weights = self._task(features)
        logits, extras = self.forward(inputs, training)
        nats, count, wrong = self._target_terms(logits, targets, weights)
        per_target = nats / tf.maximum(count, 1.0)
        if self.layout == "tokens":
            return nats, {"bits_per_char": per_target / math.log(2.0)}, extras
        metrics = {"nats_per_target": per_target, "error_rate": tf.cast(wrong > 0, nats.dtype)}
        if not self.num_labels:
            metrics["bit_errors"] = wrong
        return nats, metrics, extras

    def compute_losses(self, features, training=False):
        nats, metrics, _ = self.task_losses(features, training)
        return tf.reduce_mean(nats), metrics

    def log_prob(self, features):
        """log p(targets | inputs) [B] in nats, summed over the (masked) targets."""
        return -self.task_losses(features)[0]

    # ---------------------------------------------------------------- export
    def _feature_specs(self):
        """TensorSpecs of the features, time and batch `None`."""
        if self.num_categories:
            inputs = tf.TensorSpec([None, None], tf.int32, name="inputs")
        elif self.layout == "target":
            inputs = tf.TensorSpec([None, self.input_size], tf.float32, name="inputs")
        else:
            inputs = tf.TensorSpec([None, None, self.input_size], tf.float32, name="inputs")
        if self.layout == "tokens":
            return {"tokens": tf.TensorSpec([None, None], tf.int32, name="tokens")}
        if self.layout == "target":
            return {"inputs": inputs, "target": tf.TensorSpec([None], tf.int32, name="target")}
        target_shape = [None, None] + ([self.target_size] if self.target_size else [])
        target_dtype = tf.int32 if self.num_labels else tf.float32
        return {
            "inputs": inputs,
            "targets": tf.TensorSpec(target_shape, target_dtype, name="targets"),
            "mask": tf.TensorSpec([None, None], tf.float32, name="mask"),
        }

    def _value_ranges(self):
        """{feature name: (minimum, maximum)} of the features' values."""
        labels = (0, self.num_labels - 1) if self.num_labels else (0.0, 1.0)
        ranges = {"mask": (0.0, 1.0), "targets": labels, "target": labels}
        if self.num_categories:
            ranges["inputs"] = ranges["tokens"] = (0, self.num_categories - 1)
        return {name: value for name, value in ranges.items() if name in self._feature_specs()}

    def predict_targets(self, inputs):
        """`probabilities`, `predictions` (int32) and the core's extras, for `inputs`."""
        logits, extras = self.forward(inputs)
        if self.num_labels:
            probabilities = tf.nn.softmax(logits)
            predictions = tf.argmax(logits, -1, output_type=tf.int32)
        else:
            probabilities = tf.sigmoid(logits)
            predictions = tf.cast(logits > 0, tf.int32)
        return {"probabilities": probabilities, "predictions": predictions, **extras}

    def signatures(self, jit_compile=False):
        """`serving_default` and `log_prob` as `tf.function`s.

        - `serving_default(inputs)` (`tokens` for "tokens"): `probabilities`
          and `predictions` of every step's targets (for "tokens", of the
          next token after each position), and the core's extra outputs.
        - `log_prob(features)`: `log_prob` [B], the log-probability in nats of
          the (masked) targets of each sequence.

        Args:
          jit_compile: compile the forward pass with XLA.
        """
        self.build_example()
        specs = self._feature_specs()
        input_spec = specs["tokens" if self.layout == "tokens" else "inputs"]
        predict = (
            tf.function(self.predict_targets, jit_compile=True)
            if jit_compile
            else self.predict_targets
        )

        def serving_default(**features):
            return predict(features[input_spec.name])

        def log_prob(**features):
            return {"log_prob": self.log_prob(features)}

        ranges = self._value_ranges()
        return {
            "serving_default": signature_function(
                serving_default,
                [input_spec],
                {name: value for name, value in ranges.items() if name == input_spec.name},
            ),
            "log_prob": signature_function(log_prob, list(specs.values()), ranges),
        }

    def example_features(self, batch_size=2, seed=0):
        """Random features shaped like the task's: T = `seq_len`, masks of zeros and ones."""
        keys = tf.unstack(tf.random.experimental.stateless_split([seed, 0], 4))
        steps = [batch_size] if self.layout == "target" else [batch_size, self.seq_len]

        def ints(shape, key, high):
            return tf.random.stateless_uniform(shape, key, 0, high, tf.int32)

        if self.layout == "tokens":
            return {"tokens": ints(steps, keys[0], self.num_categories)}
        if self.num_categories:
            inputs = ints(steps, keys[0], self.num_categories)
        else:
            inputs = tf.random.stateless_uniform([*steps, self.input_size], keys[0], -1.0, 1.0)
        target_shape = steps + ([self.target_size] if self.target_size else [])
        if self.num_labels:
            targets = ints(target_shape, keys[1], self.num_labels)
        else:
            targets = tf.cast(ints(target_shape, keys[1], 2), tf.float32)
        if self.layout == "target":
            return {"inputs": inputs, "target": targets}
        mask = tf.cast(ints(steps, keys[2], 2), tf.float32)
        return {"inputs": inputs, "targets": targets, "mask": mask}
