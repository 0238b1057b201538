"""Discretised mixture of logistics (PixelCNN++, arXiv 1701.05517 Sec. 2.1).

The output distribution of the WaveNet teacher of Parallel WaveNet
(arXiv 1711.10433 Sec. 2.2): a value in [-1, 1] falls into one of `num_levels`
equal bins with centres `-1 + 2 i / (num_levels - 1)`; the probability of a bin
is the mixture's logistic CDF mass over it, the two edge bins taking all the
mass out to -inf and +inf, so the bin probabilities sum to one.
"""

import tensorflow as tf
import tensorflow_probability as tfp

from tfgen import noise

tfd = tfp.distributions

_MIN_LOG_SCALE = -7.0


def _log_bin_mass(upper, lower):
    """log(sigmoid(upper) - sigmoid(lower)) for upper > lower, stable in both tails.

    Uses sigmoid(a) - sigmoid(b) = sigmoid(-b) - sigmoid(-a) to subtract in
    the tail where the CDFs are far from 1.
    """
    upper_tail = upper + lower > 0.0
    a = tf.where(upper_tail, -lower, upper)
    b = tf.where(upper_tail, -upper, lower)
    return tfp.math.log_sub_exp(tf.math.log_sigmoid(a), tf.math.log_sigmoid(b))


class DiscretizedLogisticMixture(tfd.Distribution):
    """Mixture of logistics discretised to `num_levels` bins on [-1, 1].

    Args:
      logits: float [..., K] unnormalised mixture log-weights.
      locs: float [..., K] logistic locations mu_k.
      log_scales: float [..., K] logistic log-scales log s_k (clipped below at
        -7, as PixelCNN++ does).
      num_levels: int >= 2, number of bins (256 for 8-bit mu-law audio,
        65536 for 16-bit audio).
      validate_args, allow_nan_stats, name: as for every TFP distribution.

    Events are scalars: values in [-1, 1] (`log_prob` rounds them to the
    nearest bin centre). `log_prob(x)` is
    `log sum_k pi_k [F_k(x + 1/(num_levels - 1)) - F_k(x - 1/(num_levels - 1))]`
    with `F_k` the logistic CDF, and `F_k(-inf) = 0`, `F_k(+inf) = 1` replacing
    the outer edges of the first and last bins. Samples are bin centres.
    """

    def __init__(
        self,
        logits,
        locs,
        log_scales,
        num_levels=256,
        validate_args=False,
        allow_nan_stats=True,
        name="DiscretizedLogisticMixture",
    ):
        parameters = dict(locals())
        if isinstance(num_levels, bool) or not isinstance(num_levels, int) or num_levels < 2:
            raise ValueError(f"num_levels: expected an int >= 2, got {num_levels!r}.")
        with tf.name_scope(name) as name:
            dtype = tf.float32
            self._logits = tf.convert_to_tensor(logits, dtype)
            self._locs = tf.convert_to_tensor(locs, dtype)
            self._log_scales = tf.convert_to_tensor(log_scales, dtype)
            shapes = {self._logits.shape, self._locs.shape, self._log_scales.shape}
            if len({tuple(s.as_list()) for s in shapes if s.rank is not None}) > 1:
                raise ValueError(
                    f"logits, locs, log_scales: expected equal shapes [..., K], "
                    f"got {[s for s in shapes]}."
                )
            self._num_levels = num_levels
            super().__init__(
                dtype=dtype,
                reparameterization_type=tfd.NOT_REPARAMETERIZED,
                validate_args=validate_args,
                allow_nan_stats=allow_nan_stats,
                parameters=parameters,
                name=name,
            )

    @classmethod
    def _parameter_properties(cls, dtype, num_classes=None):
        return dict(
            logits=tfp.util.ParameterProperties(event_ndims=1),
            locs=tfp.util.ParameterProperties(event_ndims=1),
            log_scales=tfp.util.ParameterProperties(event_ndims=1),
        )

    @property
    def logits(self):
        return self._logits

    @property
    def locs(self):
        return self._locs

    @property
    def log_scales(self):
        return self._log_scales

    @property
    def num_levels(self):
        return self._num_levels

    @property
    def bin_half_width(self):
        return 1.0 / (self._num_levels - 1)

    def _event_shape(self):
        return tf.TensorShape([])

    def _event_shape_tensor(self):
        return tf.constant([], tf.int32)

    def to_bins(self, x):
        """Values in [-1, 1] -> int32 bin indices in [0, num_levels)."""
        x = tf.clip_by_value(tf.convert_to_tensor(x, self.dtype), -1.0, 1.0)
        return tf.cast(tf.round((x + 1.0) * (0.5 * (self._num_levels - 1))), tf.int32)

    def from_bins(self, bins):
        """int bin indices -> bin centres in [-1, 1]."""
        return tf.cast(bins, self.dtype) * (2.0 / (self._num_levels - 1)) - 1.0

    def _component_log_probs(self, x):
        """log P_k(bin of x) [..., K] for each logistic component."""
        bins = self.to_bins(x)[..., None]
        centre = self.from_bins(bins)
        log_scales = tf.maximum(self._log_scales, _MIN_LOG_SCALE)
        inv_scale = tf.exp(-log_scales)
        upper = (centre + self.bin_half_width - self._locs) * inv_scale
        lower = (centre - self.bin_half_width - self._locs) * inv_scale
        first, last = bins == 0, bins == self._num_levels - 1
        # Edge bins take the tails: log F(upper) for the first, log(1 - F(lower)) for the last.
        middle = _log_bin_mass(
            tf.where(last, lower + 1.0, upper), tf.where(first, upper - 1.0, lower)
        )
        return tf.where(
            first, tf.math.log_sigmoid(upper), tf.where(last, tf.math.log_sigmoid(-lower), middle)
        )

    def _log_prob(self, x):
        log_weights = tf.nn.log_softmax(self._logits, axis=-1)
        return tf.reduce_logsumexp(log_weights + self._component_log_probs(x), axis=-1)

    def sample_from_uniform(self, u_component, u_logistic, temperature=1.0):
        """A sample (bin centres) from uniform noise, by inverting CDFs.

        The component is the first whose cumulative weight exceeds
        `u_component`; the value is `mu + s * temperature * logit(u_logistic)`
        rounded to the nearest bin centre and clipped to [-1, 1]. Given the
        same noise the sample is the same with or without XLA.

        Args:
          u_component: float [...] (the batch shape) uniform in (0, 1).
          u_logistic: float [...] uniform in the open interval (0, 1).
          temperature: float scalar; divides the logits and multiplies the scales.

        Returns:
          float32 [...] bin centres.
        """
        temperature = tf.cast(temperature, self.dtype)
        component = noise.categorical_from_uniform(self._logits / temperature, u_component)

        def pick(t):
            return tf.gather(t, component[..., None], batch_dims=component.shape.rank)[..., 0]

        scale = tf.exp(tf.maximum(pick(self._log_scales), _MIN_LOG_SCALE)) * temperature
        x = pick(self._locs) + scale * (tf.math.log(u_logistic) - tf.math.log1p(-u_logistic))
        return self.from_bins(self.to_bins(x))

    def _sample_n(self, n, seed=None):
        seed = tfp.random.sanitize_seed(seed, salt="DiscretizedLogisticMixture")
        shape = tf.concat([[n], self.batch_shape_tensor()], axis=0)
        u = tf.random.stateless_uniform(
            tf.concat([[2], shape], 0), seed, minval=1e-7, maxval=1.0 - 1e-7
        )
        logits = tf.broadcast_to(self._logits, tf.concat([shape, tf.shape(self._logits)[-1:]], 0))
        broadcast = type(self)(
            logits,
            tf.broadcast_to(self._locs, tf.shape(logits)),
            tf.broadcast_to(self._log_scales, tf.shape(logits)),
            self._num_levels,
        )
        return broadcast.sample_from_uniform(u[0], u[1])
