"""Stochastic backpropagation through mixture densities (Graves 2016, arXiv 1607.05690).

A sample `x` of a mixture of diagonal Gaussians cannot be written as a smooth
function of parameter-free noise (the component choice is discrete), but the
multivariate distributional transform can: with the conditional CDFs

    F_d(x_d | x_<d) = sum_k w_kd Phi((x_d - mu_kd) / sigma_kd),
    w_kd = pi_k prod_{j<d} N(x_j; mu_kj, sigma_kj) / sum_k' (same for k'),

the vector `u = F(x; theta)` is uniform on the unit cube whatever `theta`
(Sec. 2: the conditional of dimension d given x_<d is again a mixture, with
the mixture weights updated by Bayes' rule on x_<d). Holding `u` fixed, the
implicit function theorem gives the pathwise gradient (Sec. 3)

    dx/dtheta = -(dF/dx)^-1 dF/dtheta,

where the Jacobian `dF/dx` is lower triangular (F_d depends on x_<=d only),
with the conditional densities f_d(x_d | x_<d) on its diagonal; Graves'
recursion `dx_d/dtheta = -(dF_d/dtheta + sum_{j<d} dF_d/dx_j dx_j/dtheta) / f_d`
is the forward substitution of that triangular system.

`reparameterize` attaches these gradients to a given sample as a
`tf.custom_gradient` op: its value is `x`; backpropagating a cotangent `g`
solves the transposed triangular system `(dF/dx)^T v = g` and returns
`-v^T dF/dtheta` for the mixture logits, means and scales. Sampling itself
draws a component and Gaussian noise (`MixtureOfDiagonalGaussians.sample`).

The noise comes from `tfgen.noise` (Philox bits made into floats by integer
arithmetic, plus Box-Muller here for normals), so that the same seed gives the
same sample with and without XLA.
"""

import math

import numpy as np
import tensorflow as tf

from tfgen import noise

# ------------------------------------------------------------ stateless noise


def _key(seed):
    """An int64 scalar seed (or a [2] key) -> the [2] int64 key of the stateless ops."""
    seed = tf.convert_to_tensor(seed)
    return noise.seed_pair(seed) if seed.shape.rank == 0 else tf.cast(seed, tf.int64)


# ------------------------------------------------- the distributional transform


def _standardise(x, loc, scale):
    """z_kd = (x_d - mu_kd) / sigma_kd, [..., K, D]."""
    return (x[..., None, :] - loc) / scale


def _ndtr(z):
    """The standard normal CDF Phi(z), accurate in the lower tail."""
    return 0.5 * tf.math.erfc(-z * math.sqrt(0.5))


def _log_normal(z, scale):
    return -0.5 * tf.square(z) - tf.math.log(scale) - 0.5 * math.log(2.0 * math.pi)


def conditional_log_weights(x, logits, loc, scale):
    """Log mixture weights of each dimension's conditional, log w_kd [..., K, D].

    Sec. 2: the conditional of x_d given x_<d is a mixture with weights
    `w_kd ∝ pi_k prod_{j<d} N(x_j; mu_kj, sigma_kj)` (Bayes' rule on x_<d).

    Args:
      x: float [..., D].
      logits: float [..., K], unnormalised log pi.
      loc: float [..., K, D] means mu.
      scale: float [..., K, D] standard deviations sigma > 0.

    Returns:
      Float [..., K, D], normalised over K.
    """
    log_pdf = _log_normal(_standardise(x, loc, scale), scale)
    prefix = tf.cumsum(log_pdf, axis=-1, exclusive=True)  # sum_{j<d} log N(x_j; k)
    return tf.nn.log_softmax(logits[..., :, None] + prefix, axis=-2)


def conditional_cdf(x, logits, loc, scale):
    """The multivariate distributional transform u_d = F_d(x_d | x_<d) [..., D] (Sec. 2).

    Args:
      x, logits, loc, scale: as in `conditional_log_weights`.

    Returns:
      Float [..., D] in [0, 1]; uniform on the cube when x is a sample.
    """
    weights = tf.exp(conditional_log_weights(x, logits, loc, scale))
    return tf.reduce_sum(weights * _ndtr(_standardise(x, loc, scale)), axis=-2)


def transform_jacobian(x, logits, loc, scale):
    """The lower-triangular Jacobian dF/dx [..., D, D] of `conditional_cdf`.

    Diagonal: the conditional densities f_d(x_d | x_<d) = sum_k w_kd N(x_d; k).
    Below it (j < d), through the weights only:
    `dF_d/dx_j = sum_k w_kd (Phi(z_kd) - F_d) dlog N(x_j; k)/dx_j`.

    Args:
      x, logits, loc, scale: as in `conditional_log_weights`.

    Returns:
      Float [..., D, D], zero above the diagonal.
    """
    z = _standardise(x, loc, scale)
    weights = tf.exp(conditional_log_weights(x, logits, loc, scale))  # [..., K, D]
    cdf_k = _ndtr(z)
    cdf = tf.reduce_sum(weights * cdf_k, axis=-2, keepdims=True)  # [..., 1, D]
    score = -z / scale  # d log N(x_j; k) / dx_j, [..., K, D]
    off = tf.einsum("...kd,...kj->...dj", weights * (cdf_k - cdf), score)
    density = tf.reduce_sum(weights * tf.exp(_log_normal(z, scale)), axis=-2)  # [..., D]
    density = tf.maximum(density, np.finfo(x.dtype.as_numpy_dtype).tiny)  # never divide by 0
    dims = tf.shape(x)[-1]
    strictly_lower = tf.linalg.band_part(tf.ones([dims, dims], x.dtype), -1, 0) - tf.eye(
        dims, dtype=x.dtype
    )
    return off * strictly_lower + tf.linalg.diag(density)


@tf.custom_gradient
def _implicit_reparameterization(x, logits, loc, scale):
    def grad(upstream):
        # Sec. 3: g^T dx/dtheta = -v^T dF/dtheta with (dF/dx)^T v = g.
        jacobian = transform_jacobian(x, logits, loc, scale)
        jacobian, upstream_b = _broadcast_batch(jacobian, upstream)
        v = tf.linalg.triangular_solve(jacobian, upstream_b[..., None], lower=True, adjoint=True)[
            ..., 0
        ]
        with tf.GradientTape() as tape:
            tape.watch([logits, loc, scale])
            cdf = conditional_cdf(x, logits, loc, scale)
        d_logits, d_loc, d_scale = tape.gradient(
            cdf, [logits, loc, scale], output_gradients=-tf.reshape(v, tf.shape(cdf))
        )
        return tf.zeros_like(x), d_logits, d_loc, d_scale

    return tf.identity(x), grad


def _broadcast_batch(jacobian, upstream):
    """Broadcasts the batch dimensions of J [..., D, D] and g [..., D] to each other."""
    batch = tf.broadcast_dynamic_shape(tf.shape(jacobian)[:-2], tf.shape(upstream)[:-1])
    dims = tf.shape(upstream)[-1:]
    return (
        tf.broadcast_to(jacobian, tf.concat([batch, dims, dims], 0)),
        tf.broadcast_to(upstream, tf.concat([batch, dims], 0)),
    )


def reparameterize(x, logits, loc, scale):
    """Attaches Graves' implicit gradients to a mixture sample (a `tf.custom_gradient` op).

    Args:
      x: float [..., D], a sample of the mixture (its own gradient is stopped).
      logits: float [..., K] mixture logits (broadcastable against x's batch).
      loc: float [..., K, D] component means.
      scale: float [..., K, D] component standard deviations.

    Returns:
      A tensor equal to `x` whose gradients w.r.t. `logits`, `loc` and `scale`
      are `dx/dtheta = -(dF/dx)^-1 dF/dtheta` (Sec. 3). First derivatives
      only: no gradient flows into `x`, and second derivatives are not those
      of the estimator.
    """
    return _implicit_reparameterization(tf.stop_gradient(x), logits, loc, scale)


# ---------------------------------------------------------------- the object


class MixtureOfDiagonalGaussians:
    """A mixture of K diagonal Gaussians in D dimensions with pathwise gradients.

    `sample` draws a component and Gaussian noise, then attaches the implicit
    reparameterisation gradients of Graves (2016) w.r.t. the mixture logits,
    the means and the scales (`reparameterize`). Methods return tensors.

    Args:
      logits: float [..., K], unnormalised log mixture weights.
      loc: float [..., K, D], component means.
      scale: float [..., K, D], component standard deviations (> 0).

    Example:

    >>> q = MixtureOfDiagonalGaussians(tf.zeros([4, 3]), tf.zeros([4, 3, 2]), tf.ones([4, 3, 2]))
    >>> z = q.sample(seed=1)           # differentiable w.r.t. all parameters
    >>> z.shape, q.log_prob(z).shape
    (TensorShape([4, 2]), TensorShape([4]))
    """

    def __init__(self, logits, loc, scale):
        self.loc = tf.convert_to_tensor(loc)
        if not self.loc.dtype.is_floating:
            raise TypeError(f"loc: expected a float tensor, got {self.loc.dtype.name}.")
        self.logits = tf.convert_to_tensor(logits, self.loc.dtype)
        self.scale = tf.convert_to_tensor(scale, self.loc.dtype)
        if self.loc.shape.rank is None or self.loc.shape.rank < 2:
            raise ValueError(f"loc: expected shape [..., K, D], got {self.loc.shape}.")
        if self.scale.shape.rank is None or self.scale.shape.rank < 2:
            raise ValueError(f"scale: expected shape [..., K, D], got {self.scale.shape}.")
        if self.logits.shape.rank is None or self.logits.shape.rank < 1:
            raise ValueError(f"logits: expected shape [..., K], got {self.logits.shape}.")
        k_values = {self.logits.shape[-1], self.loc.shape[-2], self.scale.shape[-2]} - {None}
        if len(k_values) > 1:
            raise ValueError(
                f"expected the same number of components K in logits [..., K], "
                f"loc and scale [..., K, D], got {self.logits.shape}, "
                f"{self.loc.shape}, {self.scale.shape}."
            )
        if self.loc.shape[-1] is not None and self.scale.shape[-1] not in (
            None,
            self.loc.shape[-1],
        ):
            raise ValueError(
                f"scale: expected event size {self.loc.shape[-1]} like loc, got "
                f"shape {self.scale.shape}."
            )

    @property
    def num_components(self):
        return self.loc.shape[-2]

    @property
    def event_size(self):
        return self.loc.shape[-1]

    def batch_shape_tensor(self):
        return tf.broadcast_dynamic_shape(
            tf.shape(self.logits)[:-1],
            tf.broadcast_dynamic_shape(tf.shape(self.loc)[:-2], tf.shape(self.scale)[:-2]),
        )

    def log_prob(self, x):
        """log sum_k pi_k N(x; mu_k, diag sigma_k^2) [...] for x [..., D]."""
        x = tf.convert_to_tensor(x, self.loc.dtype)
        log_pdf = tf.reduce_sum(
            _log_normal(_standardise(x, self.loc, self.scale), self.scale), axis=-1
        )
        return tf.reduce_logsumexp(tf.nn.log_softmax(self.logits, axis=-1) + log_pdf, axis=-1)

    def conditional_cdf(self, x):
        """u = F(x) [..., D], the distributional transform (see `conditional_cdf`)."""
        return conditional_cdf(
            tf.convert_to_tensor(x, self.loc.dtype), self.logits, self.loc, self.scale
        )

    def reparameterize(self, x):
        """x [..., D] with the implicit gradients attached (see `reparameterize`)."""
        return reparameterize(
            tf.convert_to_tensor(x, self.loc.dtype), self.logits, self.loc, self.scale
        )

    def sample_from_noise(self, uniform, normal):
        """A differentiable sample from given noise.

        Args:
          uniform: float [...] in (0, 1) choosing the component by inverse CDF
            of the mixture weights.
          normal: float [..., D] standard normal noise.

        Returns:
          Float [..., D]: `mu_k + sigma_k * normal` for the chosen k, with the
          implicit gradients w.r.t. logits, loc and scale.
        """
        uniform = tf.convert_to_tensor(uniform, self.loc.dtype)
        normal = tf.convert_to_tensor(normal, self.loc.dtype)
        num_components = tf.shape(self.loc)[-2]
        chosen = noise.categorical_from_uniform(self.logits, uniform)
        one_hot = tf.one_hot(chosen, num_components, dtype=self.loc.dtype)[..., None]  # [.., K, 1]
        x = tf.reduce_sum(one_hot * (self.loc + self.scale * normal[..., None, :]), axis=-2)
        return self.reparameterize(x)

    def sample(self, seed, sample_shape=()):
        """Draws differentiable samples with stateless, XLA-consistent noise.

        Args:
          seed: int64 scalar or [2] int64 key; the same seed gives the same sample.
          sample_shape: leading sample dimensions (list of ints or a 1-D tensor).

        Returns:
          Float [*sample_shape, *batch_shape, D].
        """
        shape = tf.concat([tf.cast(sample_shape, tf.int32), self.batch_shape_tensor()], axis=0)
        key = _key(seed)
        uniform = tf.cast(noise.uniform_from_seed(shape, key), self.loc.dtype)
        normal = noise.normal_from_seed(
            tf.concat([shape, tf.shape(self.loc)[-1:]], 0),
            key + tf.constant([1, 0], tf.int64),
            self.loc.dtype,
        )
        return self.sample_from_noise(uniform, normal)
