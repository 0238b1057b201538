"""The Kanerva Machine's memory (Wu, Wayne, Graves & Lillicrap 2018, arXiv 1804.01756, Sec. 3).

The memory `M` is a `K x C` random matrix (K rows, codes of size C) with a
matrix-variate Gaussian distribution `MN(R, U, V)`: mean `R` [K, C], row
covariance `U` [K, K] and column covariance `V`, which the paper fixes to the
identity, so the C columns of `M` are independent given `U`
(`vec(M) ~ N(vec(R), I_C (x) U)`; Sec. 3.1). A code is read with addressing
weights `w` [K] as `z = w^T M + noise`, `noise ~ N(0, sigma^2 I_C)`; writing
an episode of codes `Z` [T, C] with weights `W` [T, K] is the exact Bayesian
posterior of this linear-Gaussian model (Sec. 3.3), `memory_update`; the
memory's KL to its prior is closed form, `memory_kl`.

`KanervaMemory` holds the learned parts: the prior `p(M) = MN(R_0, U_0, I)`
with `U_0` diagonal, the addresses `A` [K, S] whose rows are normalised to
unit length (`w = A b` for a key `b` [S], Sec. 3.1), and the observation noise
variance `sigma^2` (fixed, or learned).
"""

import tensorflow as tf

from tfgen.checks import check_int

_MIN_NOISE_VARIANCE = 1e-3  # keeps W U W^T + sigma^2 I well conditioned in float32


def _check_rank(name, tensor, rank, shape_text):
    if tensor.shape.rank != rank:
        raise ValueError(
            f"{name}: expected a rank-{rank} tensor {shape_text}, got shape {tensor.shape}."
        )


def _check_dim(name, tensor, axis, size, what):
    dim = tensor.shape[axis]
    if dim is not None and size is not None and dim != size:
        raise ValueError(
            f"{name}: expected {size} ({what}) on axis {axis}, got shape {tensor.shape}."
        )


def _memory_tensors(R, U):
    """`R` [B, K, C] and `U` [B, K, K] as float tensors, their shapes checked."""
    R = tf.convert_to_tensor(R)
    U = tf.convert_to_tensor(U, R.dtype)
    _check_rank("R", R, 3, "[batch, K, C]")
    _check_rank("U", U, 3, "[batch, K, K]")
    _check_dim("U", U, 1, R.shape[1], "K, the rows of R")
    _check_dim("U", U, 2, R.shape[1], "K, the rows of R")
    return R, U


def memory_update(R, U, W, Z, noise_variance):
    """The Bayesian posterior of the memory after writing codes `Z` with weights `W`.

    The model is `Z = W M + E`, `M ~ MN(R, U, I)`, `E` with independent
    `N(0, noise_variance)` entries. Conditioning on `Z` (arXiv 1804.01756,
    Sec. 3.3, the memory update rule):

        Delta   = Z - W R                        prediction error      [T, C]
        Sigma_c = W U                            cross-covariance      [T, K]
        Sigma_z = W U W^T + noise_variance I     covariance of Z rows  [T, T]
        R_new   = R + Sigma_c^T Sigma_z^-1 Delta
        U_new   = U - Sigma_c^T Sigma_z^-1 Sigma_c

    `Sigma_z^-1` is applied by a Cholesky solve (never an explicit inverse).
    The update is the exact posterior, so writing an episode at once or row
    by row in any order gives the same memory.

    Args:
      R: float [batch, K, C], the memory mean before writing.
      U: float [batch, K, K], the row covariance before writing.
      W: float [batch, T, K], the addressing weights of the T codes.
      Z: float [batch, T, C], the codes written.
      noise_variance: positive float scalar (Python or tensor), the variance of
        the observation noise `E`.

    Returns:
      `(R_new, U_new)`: float [batch, K, C] and [batch, K, K].

    Raises:
      ValueError: on tensors of the wrong rank or mismatched sizes.

    Example:

    >>> R, U = tf.zeros([1, 3, 2]), tf.eye(3, batch_shape=[1])
    >>> W, Z = tf.constant([[[1.0, 0.0, 0.0]]]), tf.constant([[[2.0, -2.0]]])
    >>> R_new, U_new = memory_update(R, U, W, Z, noise_variance=1.0)
    >>> R_new[0].numpy().round(4)  # half way to z: prior and noise variances are equal
    array([[ 1., -1.],
           [ 0.,  0.],
           [ 0.,  0.]], dtype=float32)
    >>> round(float(U_new[0, 0, 0]), 4)
    0.5
    """
    R, U = _memory_tensors(R, U)
    W = tf.convert_to_tensor(W, R.dtype)
    Z = tf.convert_to_tensor(Z, R.dtype)
    _check_rank("W", W, 3, "[batch, T, K]")
    _check_rank("Z", Z, 3, "[batch, T, C]")
    _check_dim("W", W, 2, R.shape[1], "K, the rows of R")
    _check_dim("Z", Z, 2, R.shape[2], "C, the columns of R")
    _check_dim("Z", Z, 1, W.shape[1], "T, the rows of W")
    noise_variance = tf.convert_to_tensor(noise_variance, R.dtype)
    if noise_variance.shape.rank != 0:
        raise ValueError(f"noise_variance: expected a scalar, got shape {noise_variance.shape}.")
    # arXiv 1804.01756, Sec. 3.3: the exact posterior of the linear-Gaussian memory.
    delta = Z - tf.matmul(W, R)
    sigma_c = tf.matmul(W, U)
    sigma_z = tf.matmul(sigma_c, W, transpose_b=True) + noise_variance * tf.eye(
        tf.shape(W)[1], dtype=R.dtype
    )
    gain = tf.linalg.cholesky_solve(tf.linalg.cholesky(sigma_z), sigma_c)  # Sigma_z^-1 Sigma_c
    R_new = R + tf.matmul(gain, delta, transpose_a=True)
    U_new = U - tf.matmul(gain, sigma_c, transpose_a=True)
    return R_new, U_new


def memory_kl(R, U, prior_mean, prior_covariance):
    """KL(MN(R, U, I) || MN(R_0, U_0, I)) per batch element, in nats.

    With the column covariance fixed to the identity, the C columns of the
    memory are independent `N(r_c, U)` against `N(r0_c, U_0)`, so the KL is C
    multivariate-normal KLs over K sharing their covariances
    (arXiv 1804.01756, Sec. 3.4, the KL term of the memory):

        KL = 1/2 [ C tr(U_0^-1 U) + tr((R - R_0)^T U_0^-1 (R - R_0))
                   - C K + C (log det U_0 - log det U) ]

    Args:
      R: float [batch, K, C], the posterior mean.
      U: float [batch, K, K], the posterior row covariance (positive definite).
      prior_mean: float [batch, K, C], `R_0`.
      prior_covariance: float [batch, K, K], `U_0` (positive definite).

    Returns:
      Float [batch], the KL of each memory.

    Raises:
      ValueError: on tensors of the wrong rank or mismatched sizes.

    Example:

    >>> R, U = tf.ones([1, 2, 3]), tf.eye(2, batch_shape=[1])
    >>> float(memory_kl(R, U, tf.zeros([1, 2, 3]), U)[0])  # 1/2 |R - R_0|^2
    3.0
    """
    R, U = _memory_tensors(R, U)
    prior_mean, prior_covariance = _memory_tensors(prior_mean, prior_covariance)
    _check_dim("prior_mean", prior_mean, 1, R.shape[1], "K, the rows of R")
    _check_dim("prior_mean", prior_mean, 2, R.shape[2], "C, the columns of R")
    num_rows = tf.cast(tf.shape(R)[1], R.dtype)
    num_columns = tf.cast(tf.shape(R)[2], R.dtype)
    prior_chol = tf.linalg.cholesky(prior_covariance)
    chol = tf.linalg.cholesky(U)
    delta = R - prior_mean
    trace = tf.linalg.trace(tf.linalg.cholesky_solve(prior_chol, U))
    mahalanobis = tf.reduce_sum(delta * tf.linalg.cholesky_solve(prior_chol, delta), [1, 2])
    log_det_ratio = 2.0 * tf.reduce_sum(
        tf.math.log(tf.linalg.diag_part(prior_chol)) - tf.math.log(tf.linalg.diag_part(chol)),
        axis=-1,
    )
    return 0.5 * (num_columns * (trace - num_rows + log_det_ratio) + mahalanobis)


@tf.keras.saving.register_keras_serializable(package="tfgen")
class KanervaMemory(tf.keras.layers.Layer):
    """The Kanerva Machine's matrix-variate Gaussian memory: prior, addressing, write, read, KL.

    Learned parameters: the prior mean `R_0` [K, C] (`prior_mean`, initialised
    to zeros), the diagonal prior row covariance `U_0 = diag(exp(v))` [K, K]
    (`prior_log_variance` v, initialised to zeros), the addresses `A` [K, S]
    (`addresses`, used with unit-norm rows) and, unless it is fixed, the
    observation noise variance `sigma^2 = 1e-3 + exp(s)` (`log_noise_variance`
    s, initialised to 0).

    - `address(key)`: `w = A_n b` with the rows of A normalised (Sec. 3.1).
    - `write(R, U, w, z)`: `memory_update` with `sigma^2`.
    - `read(R, U, w)`: the read-out `w^T M` for `M ~ MN(R, U, I)`: mean
      `w^T R` and per-dimension variance `w^T U w`.
    - `kl(R, U)`: `memory_kl` against the prior.

    Calling the layer writes an episode of codes into the prior memory and
    reads every code back with the same keys: a round trip through memory.

    Reference:
      Wu, Wayne, Graves & Lillicrap 2018, "The Kanerva Machine: A Generative
      Distributed Memory", arXiv 1804.01756, Sec. 3.1 (the memory prior and
      addressing), Sec. 3.3 (the Bayesian write), Sec. 3.4 (the memory KL).

    Args:
      memory_size: int K >= 1, the rows of the memory.
      code_size: int C >= 1, the size of a stored code `z`.
      key_size: int S >= 1, the size of a key `b`.
      noise_variance: float > 0, a fixed `sigma^2`, or None to learn it.
      **kwargs: base `tf.keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
      inputs: a tuple `(z, key)`: codes float [batch, T, C] and keys float
        [batch, T, S].

    Returns:
      A tuple `(read_mean, kl)`: float [batch, T, C], the mean of every code
      read back from the memory after the episode was written, and float
      [batch], the memory's KL to its prior.

    Example:

    >>> memory = KanervaMemory(memory_size=4, code_size=3, key_size=2)
    >>> z, key = tf.random.normal([2, 5, 3]), tf.random.normal([2, 5, 2])
    >>> read, kl = memory((z, key))
    >>> read.shape, kl.shape
    (TensorShape([2, 5, 3]), TensorShape([2]))
    >>> R, U = memory.prior(2)
    >>> R_new, U_new = memory.write(R, U, memory.address(key), z)
    >>> bool(tf.reduce_all(tf.linalg.trace(U_new) < tf.linalg.trace(U)))  # less uncertain
    True
    """

    def __init__(self, memory_size, code_size, key_size, noise_variance=1.0, **kwargs):
        super().__init__(**kwargs)
        self.memory_size = check_int(memory_size, "memory_size", 1)
        self.code_size = check_int(code_size, "code_size", 1)
        self.key_size = check_int(key_size, "key_size", 1)
        if noise_variance is not None and (
            isinstance(noise_variance, bool)
            or not isinstance(noise_variance, (int, float))
            or noise_variance <= 0
        ):
            raise ValueError(
                f"noise_variance: expected a float > 0 or None, got {noise_variance!r}."
            )
        self.fixed_noise_variance = None if noise_variance is None else float(noise_variance)

    def build(self, input_shape=None):
        k, c, s = self.memory_size, self.code_size, self.key_size
        self.prior_mean = self.add_weight("prior_mean", [k, c], initializer="zeros")
        self.prior_log_variance = self.add_weight("prior_log_variance", [k], initializer="zeros")
        self.addresses = self.add_weight("addresses", [k, s], initializer="random_normal")
        if self.fixed_noise_variance is None:
            self.log_noise_variance = self.add_weight("log_noise_variance", [], initializer="zeros")
        super().build(input_shape)

    def _built(self):
        if not self.built:
            self.build()

    @property
    def noise_variance(self):
        """`sigma^2`, the variance of `z` about `w^T M` (a scalar tensor)."""
        self._built()
        if self.fixed_noise_variance is not None:
            return tf.constant(self.fixed_noise_variance, self.compute_dtype)
        return _MIN_NOISE_VARIANCE + tf.exp(self.log_noise_variance)

    def prior(self, batch_size):
        """`(R_0, U_0)` tiled to float [batch_size, K, C] and [batch_size, K, K]."""
        self._built()
        mean = tf.broadcast_to(self.prior_mean, [batch_size, self.memory_size, self.code_size])
        covariance = tf.broadcast_to(
            tf.linalg.diag(tf.exp(self.prior_log_variance)),
            [batch_size, self.memory_size, self.memory_size],
        )
        return mean, covariance

    def address(self, key):
        """Addressing weights `w` float [..., K] of keys `b` float [..., S] (Sec. 3.1)."""
        self._built()
        key = tf.convert_to_tensor(key, self.compute_dtype)
        _check_dim("key", key, -1, self.key_size, "S, key_size")
        # arXiv 1804.01756, Sec. 3.1: w^T = b^T A^T with the rows of A of unit L2 norm.
        return tf.linalg.matvec(tf.math.l2_normalize(self.addresses, axis=-1), key)

    def write(self, R, U, w, z):
        """`memory_update(R, U, w, z, sigma^2)`: the posterior (R, U) after writing z."""
        return memory_update(R, U, w, z, self.noise_variance)

    def read(self, R, U, w):
        """Mean [batch, T, C] and variance [batch, T] of the read-out `w^T M`, M ~ MN(R, U, I).

        `w^T M` has mean `w^T R` and, in every dimension, variance `w^T U w`;
        the code `z ~ p(z | y, M) = N(w^T M, sigma^2 I)` (Sec. 3.1) adds the
        noise variance `sigma^2` to it.
        """
        R, U = _memory_tensors(R, U)
        return tf.matmul(w, R), tf.reduce_sum(tf.matmul(w, U) * w, axis=-1)

    def kl(self, R, U):
        """`memory_kl` of `(R, U)` [batch, ...] against the prior: float [batch]."""
        prior_mean, prior_covariance = self.prior(tf.shape(R)[0])
        return memory_kl(R, U, prior_mean, prior_covariance)

    def call(self, inputs):
        z, key = inputs
        w = self.address(key)
        R, U = self.write(*self.prior(tf.shape(z)[0]), w, z)
        return self.read(R, U, w)[0], self.kl(R, U)

    def get_config(self):
        return {
            **super().get_config(),
            "memory_size": self.memory_size,
            "code_size": self.code_size,
            "key_size": self.key_size,
            "noise_variance": self.fixed_noise_variance,
        }
