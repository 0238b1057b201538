"""`SparseRecurrentCell`: vanilla RNN, GRU and LSTM cells with fixed sparse weights.

Keras's own equations and weight layout (`SimpleRNNCell`, `GRUCell(reset_after=True)`,
`LSTMCell`), written as three linear terms and a combination so that SnAp
(`tfgen.algorithms.snap`, arXiv 2006.07232) can differentiate each; with
`sparsity > 0`, fixed random binary masks on the weight matrices (the sparse
networks of 2006.07232 Sec. 5).
"""

import numpy as np
import tensorflow as tf

from tfgen.checks import check_choice, check_float, check_int

CELL_KINDS = ("rnn", "gru", "lstm")
# Gate blocks of the weight matrices' columns, in Keras's order.
_GATES = {"rnn": 1, "gru": 3, "lstm": 4}
# Keras's own cells with the same equations and weight layout.
_KERAS_CELLS = {
    tf.keras.layers.SimpleRNNCell: "rnn",
    tf.keras.layers.GRUCell: "gru",
    tf.keras.layers.LSTMCell: "lstm",
}


def _check_keras_cell(cell):
    """The kind of a Keras `SimpleRNNCell`/`GRUCell`/`LSTMCell` whose equations ours repeat."""
    kind = _KERAS_CELLS.get(type(cell))
    if kind is None:
        raise TypeError(
            "cell: expected a SparseRecurrentCell or a Keras SimpleRNNCell, GRUCell or "
            f"LSTMCell, got {type(cell).__name__}."
        )
    expected = {"activation": "tanh", "use_bias": True, "dropout": 0.0, "recurrent_dropout": 0.0}
    if kind != "rnn":
        expected["recurrent_activation"] = "sigmoid"
    if kind == "gru":
        expected["reset_after"] = True
    config = cell.get_config()
    for name, value in expected.items():
        if config[name] != value:
            raise ValueError(
                f"cell: a Keras {type(cell).__name__} with {name}={value!r} is needed, got "
                f"{name}={config[name]!r}."
            )
    return kind


def _unit_mask(rng, rows, units, sparsity, keep_diagonal):
    """0/1 `[rows, units]`: each unit (column) keeps `round((1 - sparsity) rows)` inputs."""
    fan_in = max(1, int(round((1.0 - sparsity) * rows)))
    mask = np.zeros([rows, units], np.float32)
    for unit in range(units):
        if keep_diagonal:
            others = np.delete(np.arange(rows), unit)
            chosen = np.append(rng.choice(others, fan_in - 1, replace=False), unit)
        else:
            chosen = rng.choice(rows, fan_in, replace=False)
        mask[chosen, unit] = 1.0
    return mask


@tf.keras.saving.register_keras_serializable(package="tfgen")
class SparseRecurrentCell(tf.keras.layers.Layer):
    """A vanilla RNN, GRU or LSTM cell with optional fixed sparse weights, for SnAp.

    Reference:
      Menick et al. 2020, "A Practical Sparse Approximation for Real Time
      Recurrent Learning", arXiv 2006.07232, Sec. 2 (the recurrent core), Sec. 5
      (sparse GRU and LSTM networks).

    The equations and the weight layout are Keras's own: `cell_kind="rnn"` is
    `SimpleRNNCell` (tanh), `"gru"` is `GRUCell` with `reset_after=True`, `"lstm"`
    is `LSTMCell`; weights `kernel [input_dim, G units]`, `recurrent_kernel
    [units, G units]` and `bias` (`[units]`, `[2, 3 units]`, `[4 units]`) can be
    copied from those cells. With `sparsity > 0` (2006.07232 Sec. 5: sparse
    networks) a fixed random binary mask, drawn from `mask_seed`, multiplies
    both weight matrices: each unit keeps `round((1 - sparsity) n)` of its `n`
    inputs, the same ones for all its gates, and always its own previous state.
    The masks are non-trainable weights (`kernel_mask [input_dim, units]`,
    `recurrent_mask [units, units]`).

    Args:
      cell_kind: `"rnn"`, `"gru"` or `"lstm"`.
      units: int, k, the number of units (the LSTM state is `(h, c)`, 2k numbers).
      sparsity: float in [0, 1), the fraction of masked weights per unit.
      mask_seed: int >= 0, seed of the masks.
      kernel_initializer, recurrent_initializer, bias_initializer: initializers,
        Keras's defaults (`"glorot_uniform"`, `"orthogonal"`, `"zeros"`; the LSTM
        forget gate's bias starts at one, as Keras's `unit_forget_bias`).
      **kwargs: base `Layer` arguments.

    Call arguments:
      inputs: float `[batch, input_dim]`, the input x_t.
      states: list of float `[batch, units]`: `[h]`, or `[h, c]` for the LSTM.

    Returns:
      `(h_t, new_states)`: float `[batch, units]` and the list of new states.

    Example:

    >>> cell = SparseRecurrentCell("gru", 8, sparsity=0.75)
    >>> tf.keras.layers.RNN(cell)(tf.zeros([2, 5, 3])).shape
    TensorShape([2, 8])
    >>> cell.recurrent_mask.numpy().sum(0)  # each unit keeps 2 of its 8 inputs
    array([2., 2., 2., 2., 2., 2., 2., 2.], dtype=float32)
    """

    def __init__(
        self,
        cell_kind,
        units,
        sparsity=0.0,
        mask_seed=0,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.cell_kind = check_choice(cell_kind, "cell_kind", CELL_KINDS)
        self.units = check_int(units, "units")
        self.sparsity = check_float(sparsity, "sparsity", 0.0, 1.0, high_open=True)
        self.mask_seed = check_int(mask_seed, "mask_seed", 0)
        self.kernel_initializer = tf.keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = tf.keras.initializers.get(recurrent_initializer)
        self.bias_initializer = tf.keras.initializers.get(bias_initializer)
        self.num_gates = _GATES[self.cell_kind]
        self.state_size = [units, units] if self.cell_kind == "lstm" else [units]
        self.output_size = units

    @property
    def num_components(self):
        """C: state components per unit (2 for the LSTM's (h, c), else 1)."""
        return len(self.state_size)

    def _bias_init(self, shape, dtype=None):
        bias = self.bias_initializer(shape, dtype=dtype)
        if self.cell_kind != "lstm":
            return bias
        k = self.units
        return tf.concat([bias[:k], tf.ones([k], bias.dtype), bias[2 * k :]], 0)

    def build(self, input_shape):
        input_dim = int(input_shape[-1])
        k, gates = self.units, self.num_gates
        self.kernel = self.add_weight(
            "kernel", [input_dim, gates * k], initializer=self.kernel_initializer
        )
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel", [k, gates * k], initializer=self.recurrent_initializer
        )
        bias_shape = [2, gates * k] if self.cell_kind == "gru" else [gates * k]
        self.bias = self.add_weight("bias", bias_shape, initializer=self._bias_init)
        self.kernel_mask = self.recurrent_mask = None
        if self.sparsity > 0.0:
            rng = np.random.default_rng(self.mask_seed)
            masks = (
                _unit_mask(rng, input_dim, k, self.sparsity, keep_diagonal=False),
                _unit_mask(rng, k, k, self.sparsity, keep_diagonal=True),
            )
            self.kernel_mask, self.recurrent_mask = (
                self.add_weight(
                    name, mask.shape, initializer=tf.constant_initializer(mask), trainable=False
                )
                for name, mask in zip(("kernel_mask", "recurrent_mask"), masks)
            )
        super().build(input_shape)

    @classmethod
    def sharing(cls, cell, input_dim):
        """A dense `SparseRecurrentCell` whose weights are those of a Keras cell (shared).

        Training either trains both: the Keras cell's `kernel`, `recurrent_kernel`
        and `bias` become this cell's parameters, so SnAp can run a Keras cell.

        Args:
          cell: a Keras `SimpleRNNCell`, `GRUCell` (`reset_after=True`) or `LSTMCell`
            with its default activations, a bias and no dropout; built here with
            `input_dim` if it is not built.
          input_dim: int, the input size.

        Returns:
          A built `SparseRecurrentCell` of the same kind and units.
        """
        kind = _check_keras_cell(cell)
        if not cell.built:
            cell.build(tf.TensorShape([None, check_int(input_dim, "input_dim")]))
        shared = cls(kind, cell.units)
        shared.kernel, shared.recurrent_kernel, shared.bias = (
            cell.kernel,
            cell.recurrent_kernel,
            cell.bias,
        )
        shared.kernel_mask = shared.recurrent_mask = None
        shared.built = True
        return shared

    @property
    def parameters(self):
        """The trainable weights in the order of the flat parameter vector theta."""
        return [self.kernel, self.recurrent_kernel, self.bias]

    def unit_masks(self):
        """NumPy 0/1 `[input_dim, k]` and `[k, k]`: which inputs each unit sees."""
        if self.kernel_mask is None:
            return np.ones(self.kernel.shape[:1] + [self.units], np.float32), np.ones(
                [self.units, self.units], np.float32
            )
        return self.kernel_mask.numpy(), self.recurrent_mask.numpy()

    def effective_weights(self):
        """`(kernel, recurrent_kernel, bias)` with the masks applied (tiled over the gates)."""
        if self.kernel_mask is None:
            return self.kernel, self.recurrent_kernel, self.bias
        tile = [1, self.num_gates]
        return (
            self.kernel * tf.tile(self.kernel_mask, tile),
            self.recurrent_kernel * tf.tile(self.recurrent_mask, tile),
            self.bias,
        )

    def combine(self, states, z_kernel, z_recurrent, z_bias):
        """The state update from the three linear terms (so SnAp can differentiate each).

        Args:
          states: list of C float `[batch, k]`, s_{t-1}.
          z_kernel: float `[batch, G k]`, `x_t @ kernel`.
          z_recurrent: float `[batch, G k]`, `h_{t-1} @ recurrent_kernel`.
          z_bias: float `[batch, *bias.shape]`, the bias broadcast over the batch.

        Returns:
          List of C float `[batch, k]`, s_t.
        """
        if self.cell_kind == "rnn":
            return [tf.tanh(z_kernel + z_recurrent + z_bias)]
        if self.cell_kind == "gru":
            # Keras GRUCell, reset_after=True: the reset gate multiplies h_{t-1} U_h + b_h.
            x_z, x_r, x_h = tf.split(z_kernel + z_bias[:, 0], 3, axis=-1)
            h_z, h_r, h_h = tf.split(z_recurrent + z_bias[:, 1], 3, axis=-1)
            z = tf.sigmoid(x_z + h_z)
            r = tf.sigmoid(x_r + h_r)
            candidate = tf.tanh(x_h + r * h_h)
            return [z * states[0] + (1.0 - z) * candidate]
        i, f, g, o = tf.split(z_kernel + z_recurrent + z_bias, 4, axis=-1)
        c = tf.sigmoid(f) * states[1] + tf.sigmoid(i) * tf.tanh(g)
        return [tf.sigmoid(o) * tf.tanh(c), c]

    def linear_terms(self, inputs, h):
        """`(x_t @ kernel, h_{t-1} @ recurrent_kernel, bias broadcast)` with masked weights."""
        kernel, recurrent_kernel, bias = self.effective_weights()
        batch = tf.shape(inputs)[0]
        z_bias = tf.broadcast_to(bias, tf.concat([[batch], tf.shape(bias)], 0))
        return tf.matmul(inputs, kernel), tf.matmul(h, recurrent_kernel), z_bias

    def call(self, inputs, states):
        states = list(tf.nest.flatten(states))
        new_states = self.combine(states, *self.linear_terms(inputs, states[0]))
        return new_states[0], new_states

    def get_config(self):
        config = super().get_config()
        config.update(
            cell_kind=self.cell_kind,
            units=self.units,
            sparsity=self.sparsity,
            mask_seed=self.mask_seed,
            kernel_initializer=tf.keras.initializers.serialize(self.kernel_initializer),
            recurrent_initializer=tf.keras.initializers.serialize(self.recurrent_initializer),
            bias_initializer=tf.keras.initializers.serialize(self.bias_initializer),
        )
        return config
