"""Adaptive Computation Time (Graves 2016, arXiv 1603.08983, Sec. 2) as a Keras RNN cell.

`ACTCell` wraps any Keras RNN cell `S` and lets it take a variable number
`N(t)` of state transitions ("ponder steps") for each input step `t`:

    s^1 = S(s_{t-1}, x^1), s^n = S(s^{n-1}, x^n), x^n = [x_t, delta_{n,1}]  (Eq. 3-4)
    h^n = sigmoid(W_h s^n + b_h)                                             (Eq. 5)
    N(t) = min(M, min{n' : sum_{n <= n'} h^n >= 1 - epsilon})       (Eq. 6, Sec. 2.1)
    R(t) = 1 - sum_{n < N(t)} h^n                                            (Eq. 7)
    p^n = h^n for n < N(t), p^N = R(t)                                       (Eq. 8)
    s_t = sum_n p^n s^n,  y_t = sum_n p^n y^n                                (Eq. 9-10)
    rho_t = N(t) + R(t)                                                      (Eq. 11)

`y^n` is the inner cell's output and `s^n` its whole state (for an LSTM both
`h` and `c`; the halting unit reads all state tensors, flattened and
concatenated in `tf.nest.flatten` order). The ponder steps run in a
`tf.while_loop` with the static `maximum_iterations=M`: every batch element
stops at its own `N(t)` (halted elements keep their state and get `p = 0`),
and the loop ends when all have halted, so it also compiles under XLA.

How the ponder cost reaches the training loss. The paper trains
`L(x, y) + tau * P(x)` with `P(x) = sum_t rho_t` (Eq. 12-13), where only `R`
carries gradient: `dP / dh^n = -1` for `n < N(t)` and 0 for `n = N(t)`
(Sec. 2.1; `N` is piecewise constant). A cell inside `tf.keras.layers.RNN`
runs in the RNN's `tf.while_loop`, and Keras 2.15 cannot take `add_loss`
tensors out of that loop under `tf.function` (InaccessibleTensorError);
the RNN layer also drops the final states when `return_state=False`. So the
cell adds the cost to the gradient directly: when called with
`training=True` and `time_penalty > 0`, each step passes its outputs and new
state through an identity whose gradient also sends
`time_penalty / (batch_size * num_replicas)` into `rho_t`. Every gradient of
a training forward pass (Keras `fit`, or a `tf.GradientTape` around
`model(x, training=True)`) is then the gradient of

    task loss + time_penalty * mean over the batch of sum_t rho_t,

the paper's per-sequence objective averaged over the batch, as Keras averages
the task loss over the batch (and divides by the number of replicas under a
`tf.distribute` strategy). If the task loss is a mean over time steps
(`return_sequences=True` with a Keras loss), the paper's sum-over-time task
loss is T times larger than Keras's: scale `time_penalty` by 1/T to compare
with the paper's tau. Limits of this design: the cost enters the gradient,
not the reported loss value; padded steps of a masked sequence are penalised
too; a mixed-precision `LossScaleOptimizer` does not scale the added
gradient.

Observing the pondering. With `return_ponder=True` the cell's output is
`[y_t, rho_t, N(t)]`, `[batch, units]`, `[batch, 1]`, `[batch, 1]`, so
`tf.keras.layers.RNN(..., return_sequences=True)` gives the per-step ponder
cost and ponder steps for metrics and plots. `rho_t` carries the paper's
gradient (through `R` only), so a training loop may also add
`tau * mean(sum_t rho_t)` itself, with `time_penalty=0` to avoid counting the
cost twice.
"""

import numpy as np
import tensorflow as tf

from tfgen.checks import check_float, check_int


def _check_cell(cell):
    if not isinstance(cell, tf.keras.layers.Layer) or not hasattr(cell, "state_size"):
        raise TypeError(
            f"cell: expected a Keras RNN cell (a Layer with `state_size`), got {cell!r}."
        )
    for name in ("dropout", "recurrent_dropout"):
        if getattr(cell, name, 0.0):
            raise ValueError(
                f"cell: expected {name}=0 (tf.keras.layers.RNN cannot reset the dropout masks "
                f"of a wrapped cell), got {name}={getattr(cell, name)}."
            )
    return cell


def _leaf_size(size):
    """Number of features of one state or output tensor of size `size` (int or shape)."""
    return int(np.prod(tf.TensorShape(size).as_list()))


def _flat_features(tensor):
    """[batch, ...] -> [batch, features]."""
    return tf.reshape(tensor, [tf.shape(tensor)[0], -1])


def _weighted(weight, tensor):
    """`weight` [batch, 1] times `tensor` [batch, ...], broadcast over the feature axes."""
    return tf.reshape(weight, [-1] + [1] * (tensor.shape.rank - 1)) * tensor


def _where(condition, x, y):
    """`x` where `condition` [batch, 1] holds, else `y`, for tensors [batch, ...]."""
    condition = tf.reshape(condition, [-1] + [1] * (x.shape.rank - 1))
    return tf.where(condition, x, y)


def _ponder_gradient(weight, ponder_cost, tensors):
    """Identity on `tensors`, adding `weight * ponder_cost` to the objective's gradient.

    The gradient w.r.t. `ponder_cost` is `weight` whatever flows back into
    `tensors`, so backpropagation adds `weight * d ponder_cost / d theta`
    (1603.08983 Eq. 13 and Sec. 2.1: the ponder cost's gradient, through R only).
    """

    @tf.custom_gradient
    def identity(cost, *values):
        def grad(*upstream):
            return (tf.fill(tf.shape(cost), tf.cast(weight, cost.dtype)), *upstream)

        return [tf.identity(v) for v in values], grad

    return identity(ponder_cost, *tensors)


@tf.keras.saving.register_keras_serializable(package="tfgen")
class ACTCell(tf.keras.layers.Layer):
    """Adaptive Computation Time: an RNN cell that ponders a learned number of steps per input.

    Wraps a Keras RNN cell; use it as `tf.keras.layers.RNN(ACTCell(cell))`. Per
    input step, the inner cell runs `N(t)` times on the input with a first-step
    flag appended, a sigmoidal halting unit on the state decides when to stop
    (cumulative halting >= 1 - epsilon, or `max_ponder_steps`), and the output
    and state are the halting-probability-weighted means of the intermediate
    ones. The ponder cost `N(t) + R(t)`, weighted by `time_penalty`, enters the
    gradient of every training forward pass (see the module docstring).

    Reference:
      Graves 2016, "Adaptive Computation Time for Recurrent Neural Networks",
      arXiv 1603.08983, Sec. 2 (Eq. 3-10: pondering, halting, mean-field
      updates), Sec. 2.1 (Eq. 11-13: ponder cost and loss; its gradient; the cap M),
      Sec. 3 (epsilon = 0.01, M = 100, initial halting bias 1).

    Args:
      cell: a Keras RNN cell (`LSTMCell`, `GRUCell`, `SimpleRNNCell`,
        `StackedRNNCells`, ...; any state structure) without dropout.
      max_ponder_steps: int >= 1, the cap `M` on the ponder steps (paper: 100).
      epsilon: float in [0, 1): halting when the cumulative halting
        probability reaches `1 - epsilon` (paper: 0.01), so one step suffices
        when `h^1 >= 1 - epsilon`.
      time_penalty: float >= 0, the ponder cost weight `tau`. The paper sweeps
        it per task; the default 0.001 is a small value that leaves the task
        loss dominant.
      halting_bias: float, the initial halting unit bias `b_h` (paper: 1).
      return_ponder: bool; if True the output is `[y_t, rho_t, N(t)]`.
      **kwargs: base `tf.keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
      inputs: float tensor [batch, features], the input `x_t`.
      states: the inner cell's state at `t - 1` (its structure).
      training: bool; True adds the ponder cost to the gradient (and is passed
        to the inner cell).

    Returns:
      `(output, new_states)`: `output` is the mean-field output [batch,
      *cell.output_size], or with `return_ponder=True` the list
      `[output, ponder_cost [batch, 1], ponder_steps [batch, 1]]`
      (`ponder_cost = N(t) + R(t)`, `ponder_steps = N(t)` as a float);
      `new_states` is the mean-field state, structured as `states`.

    Example:

    >>> cell = ACTCell(tf.keras.layers.GRUCell(3), return_ponder=True)
    >>> y, cost, steps = tf.keras.layers.RNN(cell, return_sequences=True)(tf.ones([2, 5, 4]))
    >>> y.shape, cost.shape, steps.shape
    (TensorShape([2, 5, 3]), TensorShape([2, 5, 1]), TensorShape([2, 5, 1]))
    >>> float(tf.reduce_min(steps)) >= 1.0  # at least one step per input
    True
    >>> bool(tf.reduce_all((cost > steps) & (cost <= steps + 1)))  # R in (0, 1]
    True
    """

    def __init__(
        self,
        cell,
        max_ponder_steps=100,
        epsilon=0.01,
        time_penalty=0.001,
        halting_bias=1.0,
        return_ponder=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.cell = _check_cell(cell)
        self.max_ponder_steps = check_int(max_ponder_steps, "max_ponder_steps", 1)
        self.epsilon = check_float(epsilon, "epsilon", 0.0, 1.0, high_open=True)
        self.time_penalty = check_float(time_penalty, "time_penalty", 0.0)
        self.halting_bias = check_float(halting_bias, "halting_bias")
        self.return_ponder = bool(return_ponder)

    @property
    def state_size(self):
        return self.cell.state_size

    def _cell_output_size(self):
        """The inner cell's output size (its first state's size if it declares none)."""
        size = getattr(self.cell, "output_size", None)
        return tf.nest.flatten(self.cell.state_size)[0] if size is None else size

    @property
    def output_size(self):
        size = self._cell_output_size()
        return [size, 1, 1] if self.return_ponder else size

    def build(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        if input_shape[-1] is None:
            raise ValueError(
                f"ACTCell: expected a known last input dimension, got input shape {input_shape}."
            )
        if tf.nest.is_nested(self._cell_output_size()):
            raise ValueError(
                f"ACTCell: expected a cell with one output tensor, got output_size "
                f"{self._cell_output_size()}."
            )
        # 1603.08983 Eq. 4: the inner cell sees the input plus the first-step flag.
        if not self.cell.built:
            with tf.name_scope(self.cell.name):
                self.cell.build(input_shape[:-1].concatenate([input_shape[-1] + 1]))
        state_features = sum(_leaf_size(s) for s in tf.nest.flatten(self.cell.state_size))
        # 1603.08983 Eq. 5: the halting unit's weights W_h and bias b_h.
        self.w_h = self.add_weight("halting_kernel", [state_features, 1])
        self.b_h = self.add_weight(
            "halting_bias",
            [1],
            initializer=tf.keras.initializers.Constant(self.halting_bias),
        )
        super().build(input_shape)

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        get_initial_state = getattr(self.cell, "get_initial_state", None)
        if get_initial_state is not None:
            return get_initial_state(inputs=inputs, batch_size=batch_size, dtype=dtype)
        return tf.nest.map_structure(
            lambda size: tf.zeros([batch_size, *tf.TensorShape(size).as_list()], dtype),
            self.cell.state_size,
        )

    # 1603.08983 Eq. 3-5: one inner transition and its halting unit h^n.
    def _transition(self, step_input, state, training):
        output, new_state = self.cell(step_input, state, training=training)
        new_state = tf.nest.pack_sequence_as(state, tf.nest.flatten(new_state))
        features = tf.concat([_flat_features(s) for s in tf.nest.flatten(new_state)], axis=-1)
        halting = tf.sigmoid(features @ self.w_h + self.b_h)
        return output, new_state, halting

    def _ponder(self, inputs, states, training):
        """Runs the ponder loop; returns (y_t, s_t, N(t), R(t)) with N, R [batch, 1]."""
        batch = tf.shape(inputs)[0]
        zeros = tf.zeros([batch, 1], inputs.dtype)
        threshold = 1.0 - self.epsilon
        output_shape = [batch, *tf.TensorShape(self._cell_output_size()).as_list()]

        def body(n, state, output_sum, state_sum, halting_sum, halted, steps, remainder):
            # 1603.08983 Eq. 4: x^n = x_t with the flag delta_{n,1}.
            flag = tf.fill([batch, 1], tf.cast(tf.equal(n, 1), inputs.dtype))
            output, new_state, halting = self._transition(
                tf.concat([inputs, flag], axis=-1), state, training
            )
            running = tf.logical_not(halted)
            # 1603.08983 Eq. 6 and Sec. 2.1: halt at the threshold or at the cap M.
            halts = running & ((halting_sum + halting >= threshold) | (n >= self.max_ponder_steps))
            # 1603.08983 Eq. 7-8: p^n = h^n before N(t), p^N = R(t); 0 once halted.
            rest = 1.0 - halting_sum
            p = tf.where(halts, rest, tf.where(running, halting, zeros))
            # 1603.08983 Eq. 9-10: mean-field output and state.
            output_sum += _weighted(p, output)
            state_sum = tf.nest.map_structure(
                lambda total, s: total + _weighted(p, s), state_sum, new_state
            )
            state = tf.nest.map_structure(lambda s, old: _where(running, s, old), new_state, state)
            return (
                n + 1,
                state,
                output_sum,
                state_sum,
                tf.where(running, halting_sum + halting, halting_sum),
                halted | halts,
                steps + tf.cast(running, inputs.dtype),
                tf.where(halts, rest, remainder),
            )

        def cond(n, state, output_sum, state_sum, halting_sum, halted, *rest):
            return tf.logical_not(tf.reduce_all(halted))

        loop_vars = (
            tf.constant(1),
            states,
            tf.zeros(output_shape, inputs.dtype),
            tf.nest.map_structure(tf.zeros_like, states),
            zeros,
            tf.zeros([batch, 1], tf.bool),
            zeros,
            zeros,
        )
        _, _, output, state, _, _, steps, remainder = tf.while_loop(
            cond, body, loop_vars, maximum_iterations=self.max_ponder_steps
        )
        return output, state, steps, remainder

    def _gradient_weight(self, inputs, training):
        """tau / (batch * replicas) in training, else None (no ponder gradient)."""
        if not self.time_penalty or training is None or training is False:
            return None
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        batch = tf.cast(tf.shape(inputs)[0] * replicas, inputs.dtype)
        weight = self.time_penalty / batch
        if tf.is_tensor(training):
            weight *= tf.cast(training, inputs.dtype)
        return weight

    def call(self, inputs, states, training=None):
        inputs = tf.convert_to_tensor(inputs, self.compute_dtype)
        output, state, steps, remainder = self._ponder(inputs, states, training)
        # 1603.08983 Eq. 11: rho_t = N(t) + R(t); N carries no gradient (Sec. 2.1).
        ponder_cost = tf.stop_gradient(steps) + remainder
        weight = self._gradient_weight(inputs, training)
        if weight is not None:
            flat_state = tf.nest.flatten(state)
            output, *flat_state = _ponder_gradient(weight, ponder_cost, [output, *flat_state])
            state = tf.nest.pack_sequence_as(state, flat_state)
        if self.return_ponder:
            output = [output, ponder_cost, steps]
        return output, state

    def get_config(self):
        config = super().get_config()
        config.update(
            cell=tf.keras.layers.serialize(self.cell),
            max_ponder_steps=self.max_ponder_steps,
            epsilon=self.epsilon,
            time_penalty=self.time_penalty,
            halting_bias=self.halting_bias,
            return_ponder=self.return_ponder,
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        cell = tf.keras.layers.deserialize(config.pop("cell"), custom_objects=custom_objects)
        return cls(cell, **config)
