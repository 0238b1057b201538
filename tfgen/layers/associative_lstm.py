"""Associative LSTM (Danihelka, Wayne, Uria, Kalchbrenner & Graves 2016, arXiv 1602.03032).

The cell's memory is a Holographic Reduced Representation (Sec. 2.2): a
complex vector `c` that holds key-value pairs as a sum of element-wise complex
products `r ⊛ x`; the value stored under a unit-modulus key `r` is read back,
with interference noise from the other pairs, as `conj(r) ⊛ c`. Redundant
associative memory (Sec. 3) keeps `num_copies` such traces `c_s`, each with the
keys permuted by its own constant random permutation `P_s`, and averages the
copies' reads: the interference noise of different copies is nearly
uncorrelated, so its variance falls roughly as `1 / num_copies`, with no extra
parameters.

Complex vectors are float tensors: a complex vector of `n` entries is a real
tensor `[..., 2n]` holding the real parts, then the imaginary parts
(`[Re z, Im z]`); no complex dtype reaches Keras or XLA.
"""

import numpy as np
import tensorflow as tf

from tfgen.checks import check_int

# The copies cost no parameters; the paper's experiments use a handful of them.
DEFAULT_NUM_COPIES = 4


def _parts(z):
    """(real, imaginary) halves of a complex vector `[..., 2n]`."""
    return tf.split(z, 2, axis=-1)


def _gate(gate, z):
    """A real gate `[..., n]` applied to both parts of a complex vector `[..., 2n]`."""
    return tf.concat([gate, gate], axis=-1) * z


def complex_multiply(a, b):
    """The element-wise complex product `a ⊛ b` of complex vectors `[..., 2n]`.

    `(a_re + i a_im)(b_re + i b_im) = (a_re b_re - a_im b_im) + i (a_re b_im + a_im b_re)`
    (arXiv 1602.03032, Sec. 2.2), with broadcasting over the leading axes.

    Args:
      a: float tensor [..., 2n], `[Re a, Im a]`.
      b: float tensor [..., 2n], `[Re b, Im b]`, broadcastable against `a`.

    Returns:
      Float tensor [..., 2n], `[Re(a ⊛ b), Im(a ⊛ b)]`.

    Example:

    >>> # (1 + 2i)(3 - 1i) = 5 + 5i
    >>> complex_multiply(tf.constant([1.0, 2.0]), tf.constant([3.0, -1.0])).numpy()
    array([5., 5.], dtype=float32)
    """
    a_re, a_im = _parts(a)
    b_re, b_im = _parts(b)
    return tf.concat([a_re * b_re - a_im * b_im, a_re * b_im + a_im * b_re], axis=-1)


def bound(h):
    """Rescales each complex entry of `h` [..., 2n] to modulus at most one.

    `bound(h) = h ⊘ d`, `d = max(1, |h|)` element-wise over the complex entries
    (arXiv 1602.03032, Sec. 4): entries inside the unit circle are unchanged,
    the others are projected onto it with their phase kept. Computed as
    `sqrt(max(1, |h|^2))`, whose gradient is finite at `h = 0`.

    Args:
      h: float tensor [..., 2n], `[Re h, Im h]`.

    Returns:
      Float tensor [..., 2n], the bounded complex vector.

    Example:

    >>> bound(tf.constant([3.0, 0.1, 4.0, 0.2])).numpy()  # entries 3 + 4i and 0.1 + 0.2i
    array([0.6, 0.1, 0.8, 0.2], dtype=float32)
    """
    re, im = _parts(h)
    d = tf.sqrt(tf.maximum(1.0, tf.square(re) + tf.square(im)))
    return tf.concat([re / d, im / d], axis=-1)


def permute_keys(keys, permutations):
    """The keys of every copy, `P_s r` (arXiv 1602.03032, Sec. 3).

    The permutation of copy `s` moves the entries of a complex key:
    `(P_s r)[j] = r[permutations[s, j]]`, the same for the real and the
    imaginary parts.

    Args:
      keys: float tensor [..., 2n], complex keys `r`.
      permutations: int tensor [num_copies, n], one permutation of `range(n)`
        per copy.

    Returns:
      Float tensor [..., num_copies, 2n], the permuted keys.

    Example:

    >>> keys = tf.constant([[1.0, 2.0, 3.0, 10.0, 20.0, 30.0]])  # 1 + 10i, 2 + 20i, 3 + 30i
    >>> permute_keys(keys, tf.constant([[0, 1, 2], [2, 0, 1]])).numpy()
    array([[[ 1.,  2.,  3., 10., 20., 30.],
            [ 3.,  1.,  2., 30., 10., 20.]]], dtype=float32)
    """
    return tf.concat([tf.gather(part, permutations, axis=-1) for part in _parts(keys)], axis=-1)


def redundant_write(cells, forget_gate, input_keys, values, permutations):
    """Writes `values` into every copy: `c_s <- g_f ⊙ c_s + (P_s r_i) ⊛ values`.

    The Associative LSTM's memory update (arXiv 1602.03032, Sec. 4), with
    `values = g_i ⊙ u`, over the redundant copies of Sec. 3.

    Args:
      cells: float tensor [..., num_copies, 2n], the complex traces `c_s`.
      forget_gate: float tensor [..., n], the real gate `g_f`, applied to the
        real and the imaginary parts alike.
      input_keys: float tensor [..., 2n], the complex key `r_i`.
      values: float tensor [..., 2n], the complex vector to store.
      permutations: int tensor [num_copies, n].

    Returns:
      Float tensor [..., num_copies, 2n], the updated traces.

    Example:

    >>> cells = tf.zeros([1, 2, 4])  # one batch entry, two copies of 2 complex entries
    >>> keys = tf.constant([[0.0, 1.0, 1.0, 0.0]])  # i, 1
    >>> values = tf.constant([[1.0, 1.0, 0.0, 0.0]])  # 1, 1
    >>> permutations = tf.constant([[0, 1], [1, 0]])
    >>> redundant_write(cells, tf.ones([1, 2]), keys, values, permutations).numpy()
    array([[[0., 1., 1., 0.],
            [1., 0., 0., 1.]]], dtype=float32)
    """
    kept = _gate(forget_gate[..., tf.newaxis, :], cells)
    return kept + complex_multiply(
        permute_keys(input_keys, permutations), values[..., tf.newaxis, :]
    )


def redundant_read(cells, output_keys, permutations):
    """The mean over copies of `(P_s r_o) ⊛ c_s` (arXiv 1602.03032, Secs. 3 and 4).

    With a unit-modulus key, reading with its conjugate `r_o = conj(r_i)`
    retrieves the value written under `r_i` plus interference noise whose
    variance falls as the number of copies grows.

    Args:
      cells: float tensor [..., num_copies, 2n], the complex traces `c_s`.
      output_keys: float tensor [..., 2n], the complex key `r_o`.
      permutations: int tensor [num_copies, n].

    Returns:
      Float tensor [..., 2n], the complex read-out (before `bound`).

    Example:

    >>> cells = tf.constant([[[0.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 1.0]]])
    >>> conjugate_key = tf.constant([[0.0, 1.0, -1.0, 0.0]])  # conj(i), conj(1)
    >>> redundant_read(cells, conjugate_key, tf.constant([[0, 1], [1, 0]])).numpy()
    array([[1., 1., 0., 0.]], dtype=float32)
    """
    keys = permute_keys(output_keys, permutations)
    return tf.reduce_mean(complex_multiply(keys, cells), axis=-2)


def random_permutations(num_copies, units, seed):
    """`num_copies` random permutations of `range(units)`, int32 [num_copies, units].

    Drawn with NumPy's `default_rng(seed)`, the same for the same arguments.

    Example:

    >>> permutations = random_permutations(3, 5, seed=0)
    >>> permutations.shape, sorted(permutations[1].tolist())
    ((3, 5), [0, 1, 2, 3, 4])
    """
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(units) for _ in range(num_copies)]).astype(np.int32)


@tf.keras.saving.register_keras_serializable(package="tfgen")
class AssociativeLSTMCell(tf.keras.layers.Layer):
    """The Associative LSTM cell: an LSTM whose cells are redundant holographic memories.

    With `n = units` complex units and `S = num_copies` copies, one step is
    (arXiv 1602.03032, Sec. 4):

        g_f, g_i, g_o, r_i, r_o, u  (pre-activations) = W_x x_t + W_h h_{t-1} + b
        g_f, g_i, g_o = sigmoid(.)                  real gates [n], on both parts
        r_i, r_o, u   = bound(.)                    complex [n], modulus <= 1
        c_{s,t} = g_f ⊙ c_{s,t-1} + (P_s r_i) ⊛ (g_i ⊙ u)        s = 1..S
        h_t     = g_o ⊙ bound((1/S) Σ_s (P_s r_o) ⊛ c_{s,t})

    where `⊛` is the element-wise complex product and `P_s` are constant random
    permutations, one per copy (Sec. 3). The read uses `r_o` as the network
    computes it; a learned `r_o` can be the conjugate of an earlier `r_i`, the
    inverse of a unit-modulus key (Sec. 2.2). The copies add no trainable
    parameters: the trainable weights are `kernel` [input_dim, 9n] (`W_x`),
    `recurrent_kernel` [2n, 9n] (`W_h`) and `bias` [9n], whose 9n columns are
    `g_f, g_i, g_o` (n each), then `r_i, r_o, u` (2n each, real parts then
    imaginary parts). The permutations are drawn once from `seed` and kept in
    the non-trainable int32 weight `permutations` [S, n], so saving and
    loading the weights reproduces them.

    Complex vectors are real tensors `[Re, Im]`: the output and the state `h`
    are float tensors of real size `2 * units`; the state `c` is the `S`
    complex traces flattened to real size `num_copies * 2 * units`
    (`[S, 2n]` row-major).

    Reference:
      Danihelka et al. 2016, "Associative Long Short-Term Memory", arXiv
      1602.03032, Sec. 2.2 (holographic reduced representations, complex
      multiplication), Sec. 3 (redundant associative memory, permuted copies),
      Sec. 4 (the Associative LSTM equations and `bound`).

    Args:
      units: positive int, the number of complex units `n` (the real output
        size is `2 * units`).
      num_copies: positive int, the number of redundant memory copies `S`.
      seed: int or None, the seed of the copies' permutations; None draws one
        from NumPy's global generator (seeded by
        `tf.keras.utils.set_random_seed`) and keeps it in the config.
      kernel_initializer: initializer of `kernel`.
      recurrent_initializer: initializer of `recurrent_kernel`.
      bias_initializer: initializer of `bias`.
      unit_forget_bias: bool, add 1 to the forget gate's bias at
        initialisation (as Keras' `LSTMCell` does).
      **kwargs: base `tf.keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
      inputs: float tensor [batch, input_dim], the input `x_t`.
      states: list `[h, c]`: `h` [batch, 2 * units], `c` [batch,
        num_copies * 2 * units].
      training: ignored (no dropout).

    Returns:
      `(h_t, [h_t, c_t])`: the output [batch, 2 * units] (real parts, then
      imaginary parts) and the new states.

    Example:

    >>> rnn = tf.keras.layers.RNN(AssociativeLSTMCell(16))
    >>> rnn(tf.zeros([2, 5, 3])).shape  # 16 complex units: 32 real outputs
    TensorShape([2, 32])
    >>> rnn.cell.state_size
    [32, 128]
    """

    def __init__(
        self,
        units,
        num_copies=DEFAULT_NUM_COPIES,
        seed=None,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_int(units, "units")
        self.num_copies = check_int(num_copies, "num_copies")
        if seed is None:
            seed = int(np.random.randint(2**31 - 1))
        self.seed = check_int(seed, "seed", minimum=0)
        self.kernel_initializer = tf.keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = tf.keras.initializers.get(recurrent_initializer)
        self.bias_initializer = tf.keras.initializers.get(bias_initializer)
        self.unit_forget_bias = bool(unit_forget_bias)

    @property
    def state_size(self):
        return [2 * self.units, self.num_copies * 2 * self.units]

    @property
    def output_size(self):
        return 2 * self.units

    def _bias_initializer(self, shape, dtype=None, **kwargs):
        bias = self.bias_initializer(shape, dtype=dtype, **kwargs)
        if not self.unit_forget_bias:
            return bias
        # g_f comes first among the 9n pre-activations.
        n = self.units
        return bias + tf.concat([tf.ones([n], bias.dtype), tf.zeros([8 * n], bias.dtype)], 0)

    def build(self, input_shape):
        input_dim = tf.TensorShape(input_shape)[-1]
        if input_dim is None:
            raise ValueError(
                f"AssociativeLSTMCell: expected a known last input dimension, got input shape "
                f"{input_shape}."
            )
        n = self.units
        self.kernel = self.add_weight(
            "kernel", [input_dim, 9 * n], initializer=self.kernel_initializer
        )
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel", [2 * n, 9 * n], initializer=self.recurrent_initializer
        )
        self.bias = self.add_weight("bias", [9 * n], initializer=self._bias_initializer)
        # Sec. 3: one constant random permutation per copy.
        self.permutations = self.add_weight(
            "permutations",
            [self.num_copies, n],
            dtype=tf.int32,
            initializer=tf.keras.initializers.Constant(
                random_permutations(self.num_copies, n, self.seed)
            ),
            trainable=False,
        )
        super().build(input_shape)

    def call(self, inputs, states, training=None):
        del training
        n = self.units
        h, cells = states
        cells = tf.reshape(cells, [-1, self.num_copies, 2 * n])
        # Sec. 4: gates, keys and update from x_t and h_{t-1}.
        z = tf.matmul(inputs, self.kernel) + tf.matmul(h, self.recurrent_kernel) + self.bias
        g_f, g_i, g_o, r_i, r_o, u = tf.split(z, [n, n, n, 2 * n, 2 * n, 2 * n], axis=-1)
        g_f, g_i, g_o = tf.sigmoid(g_f), tf.sigmoid(g_i), tf.sigmoid(g_o)
        r_i, r_o, u = bound(r_i), bound(r_o), bound(u)
        # Sec. 4: c_s <- g_f ⊙ c_s + (P_s r_i) ⊛ (g_i ⊙ u).
        cells = redundant_write(cells, g_f, r_i, _gate(g_i, u), self.permutations)
        # Sec. 4: h = g_o ⊙ bound(mean_s (P_s r_o) ⊛ c_s).
        h = _gate(g_o, bound(redundant_read(cells, r_o, self.permutations)))
        return h, [h, tf.reshape(cells, [-1, self.num_copies * 2 * n])]

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        """Zero states `[h, c]`: [batch, 2 * units] and [batch, num_copies * 2 * units]."""
        if inputs is not None:
            batch_size = tf.shape(inputs)[0]
            dtype = inputs.dtype
        dtype = dtype or self.compute_dtype
        return [tf.zeros([batch_size, size], dtype) for size in self.state_size]

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            num_copies=self.num_copies,
            seed=self.seed,
            kernel_initializer=tf.keras.initializers.serialize(self.kernel_initializer),
            recurrent_initializer=tf.keras.initializers.serialize(self.recurrent_initializer),
            bias_initializer=tf.keras.initializers.serialize(self.bias_initializer),
            unit_forget_bias=self.unit_forget_bias,
        )
        return config
