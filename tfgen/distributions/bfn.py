"""Bayesian Flow Networks (Graves et al. 2023, arXiv 2308.07037): the three data families.

Each family is a plain, TFP-style object holding the schedule constants; its
methods take and return tensors (never distribution objects):

- `ContinuousBFN` (Sec. 4): input distribution N(mu, 1/rho), prior (0, 1),
  accuracy schedule beta(t) = sigma_1^(-2t) - 1, Bayesian flow
  N(gamma x, gamma (1 - gamma)) with gamma(t) = 1 - sigma_1^(2t), output
  x_hat = mu/gamma - sqrt((1-gamma)/gamma) eps_hat (0 below `t_min`, clipped
  to [-1, 1]).
- `DiscretisedBFN` (Sec. 5): the same flow over K bins on [-1, 1]; the output
  distribution is the Gaussian CDF mass of each bin (first and last bins
  extended to -inf / +inf) and `k_hat` its expectation.
- `DiscreteBFN` (Sec. 6): parameters theta on the simplex, sender
  N(alpha (K e_x - 1), alpha K I), update theta' ∝ exp(y) theta, schedule
  beta(t) = beta_1 t^2, flow theta = softmax(y), y ~ N(beta(t)(K e_x - 1), beta(t) K I).

Every family gives the n-step loss L^n (per variable, for the step i drawn by
the caller: the caller's estimate of L^n is this value at a uniformly drawn
i in {1..n}), the continuous-time loss L^inf (per variable, at a uniformly
drawn t), the reconstruction loss L^r, and the n-step sampling procedure
(`sample`, a `tf.while_loop`, which callers may compile with XLA).

The discrete accuracy schedule. The paper writes beta(t) = beta(1) t^2 (Sec. 6.8)
and picks beta(1) per experiment where the input distribution at t = 1 has
become nearly certain of the data (its figure of the expected entropy of the flow
against sqrt(beta) for K = 2 and K = 27, with the chosen sqrt(beta(1)) = 3 and
0.75 starred; the reference code's `max_sqrt_beta`). We keep the paper's form
(the hparam `beta_1` is the value at t = 1, alpha_i = beta_1 (2i - 1) / n^2)
and make the rule a function: `flow_entropy(K, beta)` is the expected entropy of
the input distribution after the flow, and `discrete_beta_1(K)` the beta(1) at
which it is 0.2 bits at t = 1, the text8 setting's value: it gives the paper's
sqrt(beta(1)) = 0.75 for K = 27, and beta(1) = 0.087 for K = 256 bytes, where
0.5625 would leave 0.2 bits by t = 0.39 and nearly none from t = 0.5 on.

Random numbers. Samplers and seeded losses draw through `tfgen.noise`
(`uniform_from_seed`, `normal_from_seed`), so the same seed gives the same
samples with or without XLA (up to float rounding of the network and of
log/cos, ~1e-6).
"""

import math

import numpy as np
import tensorflow as tf

from tfgen import noise
from tfgen.checks import check_float, check_int

__all__ = [
    "ContinuousBFN",
    "DiscreteBFN",
    "DiscretisedBFN",
    "FINAL_ENTROPY_BITS",
    "discrete_beta_1",
    "flow_entropy",
]


# ----------------------------------------------------------------------- helpers
def _expand(t, like):
    """Reshapes per-example `t` [B] (or a scalar) to broadcast against `like` [B, ...]."""
    t = tf.convert_to_tensor(t, like.dtype)
    if t.shape.rank == 0:
        return t
    return tf.reshape(t, tf.concat([tf.shape(t), tf.ones([like.shape.rank - 1], tf.int32)], 0))


def _check_unit_interval(value, name):
    return check_float(value, name, 0.0, 1.0, low_open=True, high_open=True)


def bin_centres(num_bins):
    """k_c = (2k - 1)/K - 1 for k = 1..K (Sec. 5): float32 [K]."""
    return (2.0 * tf.range(1, num_bins + 1, dtype=tf.float32) - 1.0) / num_bins - 1.0


def bin_index(x, num_bins):
    """The bin k in [0, K) of values x in [-1, 1] (inverse of `bin_centres`)."""
    k = tf.floor((tf.convert_to_tensor(x, tf.float32) + 1.0) * (num_bins / 2.0))
    return tf.clip_by_value(tf.cast(k, tf.int32), 0, num_bins - 1)


def discretised_normal_probs(mean, std, num_bins):
    """Mass of N(mean, std^2) in each of K bins on [-1, 1], outer bins extended to infinity.

    Implements the discretised output distribution (Sec. 5.1, Eq. 108-109):
    p(k) = G(k_r) - G(k_l) with G(k_l of bin 1) = 0 and G(k_r of bin K) = 1.

    Args:
      mean, std: float32 [...], std > 0.
      num_bins: int K.

    Returns:
      float32 [..., K], rows summing to one.
    """
    mean, std = mean[..., None], std[..., None]
    interior = -1.0 + 2.0 * tf.range(1, num_bins, dtype=tf.float32) / num_bins  # k_r, k < K
    z = (interior - mean) / std
    ones = tf.ones_like(z[..., :1])
    lower = tf.concat([-math.inf * ones, z], axis=-1)
    upper = tf.concat([z, math.inf * ones], axis=-1)
    # Differences of upper-tail CDFs where both edges lie right of the mean (no cancellation).
    right = _normal_cdf(-lower) - _normal_cdf(-upper)
    left = _normal_cdf(upper) - _normal_cdf(lower)
    return tf.maximum(tf.where(lower > 0, right, left), 0.0)


def _normal_cdf(z):
    return 0.5 * tf.math.erfc(-z * (1.0 / math.sqrt(2.0)))


def _safe_log(p, floor=1e-10):
    return tf.math.log(tf.maximum(p, floor))


# ------------------------------------------------- choosing beta(1) for discrete data
FINAL_ENTROPY_BITS = 0.2  # "nearly certain": the text8 setting's entropy left at t = 1


def _flow_entropy(noise_draws, beta):
    """Mean entropy (nats) of theta = softmax(y) over draws of the flow's noise (class 0 true)."""
    # 2308.07037 Eq. 139-140: y ~ N(beta (K e_x - 1), beta K I); softmax ignores the shift
    # -beta, leaving s^2 e_x + s eps with s = sqrt(beta K).
    s = math.sqrt(beta * noise_draws.shape[1])
    logits = s * noise_draws
    logits[:, 0] += s * s
    logits -= logits.max(axis=1, keepdims=True)
    log_theta = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
    return float(-np.mean(np.sum(np.exp(log_theta) * log_theta, axis=1)))


def _noise_draws(num_categories, num_samples, seed):
    num_categories = check_int(num_categories, "num_categories", 2)
    num_samples = check_int(num_samples, "num_samples", 1)
    return np.random.default_rng(seed).standard_normal((num_samples, num_categories))


def flow_entropy(num_categories, beta, num_samples=16384, seed=0):
    """Expected entropy (nats) of the input distribution after a Bayesian flow of accuracy beta.

    `E_{p_F(theta | x; beta)}[H(theta)]` for K categories (Sec. 6.8: the surface of the
    paper's figure of the accuracy schedule against the expected entropy, Eq. 139-140), by
    Monte Carlo over `num_samples` draws of the flow's noise (NumPy, float64; the same
    `seed` gives the same number). It falls from ln K at beta = 0 towards 0.

    Args:
      num_categories: int K >= 2.
      beta: float >= 0, the accuracy beta(t).
      num_samples: int, Monte Carlo draws.
      seed: int seed of the draws.

    Returns:
      float in [0, ln K].

    Example:

    >>> round(flow_entropy(27, 0.75**2) / math.log(2), 2)  # text8's setting, bits at t = 1
    0.2
    """
    beta = check_float(beta, "beta", 0.0)
    return _flow_entropy(_noise_draws(num_categories, num_samples, seed), beta)


def discrete_beta_1(
    num_categories, final_entropy_bits=FINAL_ENTROPY_BITS, num_samples=16384, seed=0
):
    """beta(1) for K categories by the paper's rule: nearly certain at t = 1, no earlier.

    Sec. 6.8 takes beta(t) = beta(1) t^2 and picks beta(1) where the expected entropy of
    the input distribution (`flow_entropy`) has nearly reached 0, so that information
    flows in until t = 1. "Nearly" is `final_entropy_bits`, 0.2 bits by default: the
    entropy the paper's text8 setting (K = 27, sqrt(beta(1)) = 0.75) leaves at t = 1, so
    `discrete_beta_1(27)` gives the paper's 0.75^2. The entropy falls with beta, so it
    reaches the threshold at t = 1 exactly; bisection on ln beta with the same noise for
    every beta. (The paper's binarised-MNIST setting, K = 2 and sqrt(beta(1)) = 3, is far
    more certain, 0.006 bits: its two choices are not one threshold.)

    Args:
      num_categories: int K >= 2.
      final_entropy_bits: float in (0, log2 K), the expected entropy at t = 1, in bits.
      num_samples, seed: as for `flow_entropy`.

    Returns:
      float beta(1) > 0.

    Example:

    >>> round(math.sqrt(discrete_beta_1(27)), 2)  # the paper's text8 sqrt(beta(1))
    0.75
    >>> round(discrete_beta_1(256), 3)  # bytes
    0.087
    """
    draws = _noise_draws(num_categories, num_samples, seed)
    target = math.log(2.0) * check_float(
        final_entropy_bits,
        "final_entropy_bits",
        0.0,
        math.log2(num_categories),
        low_open=True,
        high_open=True,
    )
    low, high = math.log(1e-6), math.log(1e4)
    for _ in range(30):
        middle = 0.5 * (low + high)
        if _flow_entropy(draws, math.exp(middle)) > target:
            low = middle
        else:
            high = middle
    return math.exp(0.5 * (low + high))


# ------------------------------------------------------------------------ families
class _BayesianFlow:
    """The n-step sampling loop (Sec. 4.x / 5.x / 6.x "Sample generation"), shared.

    A family provides `prior(shape)`, `network_input(state)`, `alpha(i, n)`,
    `receiver_sample(state, t, out, alpha, seed)`, `bayesian_update(state, y, alpha)`
    and `final_sample(state, out, seed)`.
    """

    def sample(self, network, shape, steps, seed):
        """n-step generation: for i = 1..n, t = (i-1)/n, y ~ p_R(. | theta; t, alpha_i), update.

        Args:
          network: callable `(network_input, t [B]) -> output` of the family.
          shape: the data shape [N, ...] (int32 tensor or list).
          steps: int32 [] n >= 1.
          seed: int64 [] seed; the loop draws with `noise.stream_seed(seed, 2 i + j)`.

        Returns:
          The family's final sample (see `final_sample`).
        """
        shape = tf.convert_to_tensor(shape, tf.int32)
        steps = tf.convert_to_tensor(steps, tf.int32)
        n = tf.cast(steps, tf.float32)
        state = self.prior(shape)
        ones = tf.ones(shape[:1], tf.float32)

        def body(i, *state):
            t = ones * (tf.cast(i - 1, tf.float32) / n)
            out = network(self.network_input(state), t)
            alpha = self.alpha(tf.cast(i, tf.float32), n)
            y = self.receiver_sample(state, t, out, alpha, noise.stream_seed(seed, 2 * i))
            return (i + 1, *self.bayesian_update(state, y, alpha))

        _, *state = tf.while_loop(lambda i, *_: i <= steps, body, (tf.constant(1), *state))
        out = network(self.network_input(state), ones)
        return self.final_sample(tuple(state), out, noise.stream_seed(seed, 1))


class ContinuousBFN(_BayesianFlow):
    """Bayesian flow for continuous data in [-1, 1] (Sec. 4).

    Args:
      sigma_1: float in (0, 1), the standard deviation of the input
        distribution at t = 1 (the paper uses 0.001 for 256-bin images and
        sqrt(1e-3) for 16 bins).
      t_min: float, below which the output is x_hat = 0 (Eq. 84).
      num_bins: int K or None, the number of data levels used by the
        reconstruction loss (a discretised N(x_hat, sigma_1^2), Sec. 7.2).

    The network input is the mean mu [B, ...]; its output is eps_hat [B, ...].
    """

    def __init__(self, sigma_1=0.001, t_min=1e-6, num_bins=None):
        self.sigma_1 = _check_unit_interval(sigma_1, "sigma_1")
        self.t_min = _check_unit_interval(t_min, "t_min")
        self.num_bins = None if num_bins is None else check_int(num_bins, "num_bins", 2)
        self.log_sigma_1 = math.log(self.sigma_1)

    def get_config(self):
        return {"sigma_1": self.sigma_1, "t_min": self.t_min, "num_bins": self.num_bins}

    # Sec. 4.5, Eq. 72-73: gamma(t) = 1 - sigma_1^(2t), beta(t) = sigma_1^(-2t) - 1.
    def gamma(self, t):
        t = tf.cast(t, tf.float32)
        return -tf.math.expm1(2.0 * t * self.log_sigma_1)

    def beta(self, t):
        t = tf.cast(t, tf.float32)
        return tf.math.expm1(-2.0 * t * self.log_sigma_1)

    def alpha(self, i, n):
        """alpha_i = beta(i/n) - beta((i-1)/n) = sigma_1^(-2i/n) (1 - sigma_1^(2/n)) (Eq. 95)."""
        i, n = tf.cast(i, tf.float32), tf.cast(n, tf.float32)
        return tf.exp(-2.0 * i / n * self.log_sigma_1) * -tf.math.expm1(2.0 / n * self.log_sigma_1)

    # Sec. 4.1-4.2: prior, sender, Bayesian update.
    def prior(self, shape):
        return tf.zeros(shape), tf.ones([])

    @staticmethod
    def network_input(state):
        return state[0]

    @staticmethod
    def bayesian_update(state, y, alpha):
        """rho' = rho + alpha, mu' = (mu rho + y alpha) / rho' (Eq. 49-50)."""
        mu, rho = state
        rho_new = rho + alpha
        return (mu * rho + y * alpha) / rho_new, rho_new

    @staticmethod
    def sender_sample(x, alpha, eps):
        """y ~ p_S(y | x; alpha) = N(x, 1/alpha) from standard normal `eps` (Eq. 51)."""
        return x + eps / tf.sqrt(alpha)

    def flow_sample(self, x, t, eps):
        """mu ~ p_F(mu | x; t) = N(gamma x, gamma (1 - gamma)) (Eq. 77)."""
        gamma = self.gamma(_expand(t, x))
        return gamma * x + tf.sqrt(gamma * (1.0 - gamma)) * eps

    def output_mean(self, mu, t, eps_hat):
        """x_hat(theta, t) = mu/gamma - sqrt((1-gamma)/gamma) eps_hat (Eq. 84).

        0 where t < t_min; clipped to [-1, 1].
        """
        t = _expand(t, mu)
        low = t < self.t_min
        gamma = tf.where(low, tf.ones_like(t), self.gamma(t))
        x_hat = mu / gamma - tf.sqrt((1.0 - gamma) / gamma) * eps_hat
        return tf.clip_by_value(tf.where(low, tf.zeros_like(x_hat), x_hat), -1.0, 1.0)

    # Losses, per variable.
    def continuous_time_loss(self, x, mu, t, out):
        """L^inf = -ln(sigma_1) sigma_1^(-2t) (x - x_hat)^2 (Eq. 101)."""
        x_hat = self.output_mean(mu, t, out)
        return (
            -self.log_sigma_1 * tf.exp(-2.0 * _expand(t, x) * self.log_sigma_1) * (x - x_hat) ** 2
        )

    def discrete_time_loss(self, x, mu, t, out, i, n, eps=None):
        """L^n = n alpha_i / 2 (x - x_hat(theta_{i-1}, t_{i-1}))^2 (Eq. 96); `eps` is unused."""
        del eps
        x_hat = self.output_mean(mu, t, out)
        return 0.5 * n * self.alpha(_expand(i, x), n) * (x - x_hat) ** 2

    def reconstruction_loss(self, x, mu, out):
        """L^r = -ln of the bin of x under N(x_hat(theta, 1), sigma_1^2) over `num_bins` bins."""
        if self.num_bins is None:
            raise ValueError(
                "num_bins: expected the number of data levels for the reconstruction "
                "loss of continuous data, got None."
            )
        x_hat = self.output_mean(mu, tf.ones(tf.shape(x)[:1]), out)
        probs = discretised_normal_probs(x_hat, self.sigma_1 * tf.ones_like(x_hat), self.num_bins)
        picked = tf.gather(probs, bin_index(x, self.num_bins), batch_dims=x.shape.rank)
        return -_safe_log(picked)

    # Sampling (Sec. 4.14): y ~ N(x_hat, 1/alpha); the result is x_hat(theta, 1).
    def receiver_sample(self, state, t, out, alpha, seed):
        x_hat = self.output_mean(state[0], t, out)
        return self.sender_sample(x_hat, alpha, noise.normal_from_seed(tf.shape(x_hat), seed))

    def final_sample(self, state, out, seed):
        del seed
        return self.output_mean(state[0], tf.ones(tf.shape(out)[:1]), out)


class DiscretisedBFN(ContinuousBFN):
    """Bayesian flow for data on K bins of [-1, 1] (Sec. 5).

    Args:
      num_bins: int K >= 2.
      sigma_1: float in (0, 1).
      t_min: float, below which mu_x = 0 and sigma_x = 1 (Eq. 105-106).

    Data x are bin centres in [-1, 1]. The network input is mu [B, ...]; its
    output is [B, ..., 2], (mu_eps, ln sigma_eps).
    """

    def __init__(self, num_bins=16, sigma_1=math.sqrt(1e-3), t_min=1e-6):
        super().__init__(sigma_1, t_min, check_int(num_bins, "num_bins", 2))

    def output_probs(self, mu, t, out):
        """p_O(k | theta; t) [..., K] from the output (mu_eps, ln sigma_eps) (Eq. 104-109)."""
        t = _expand(t, mu)
        low = t < self.t_min
        gamma = tf.where(low, tf.ones_like(t), self.gamma(t))
        scale = tf.sqrt((1.0 - gamma) / gamma)
        mu_x = tf.where(low, tf.zeros_like(mu), mu / gamma - scale * out[..., 0])
        sigma_x = tf.where(low, tf.ones_like(mu), scale * tf.exp(out[..., 1]))
        return discretised_normal_probs(mu_x, sigma_x, self.num_bins)

    def k_hat(self, probs):
        """E[k_c] under p_O: sum_k p_O(k) k_c (Eq. 117)."""
        return tf.reduce_sum(probs * bin_centres(self.num_bins), axis=-1)

    def continuous_time_loss(self, x, mu, t, out):
        """L^inf = -ln(sigma_1) sigma_1^(-2t) (x - k_hat)^2 (Eq. 119)."""
        k_hat = self.k_hat(self.output_probs(mu, t, out))
        return (
            -self.log_sigma_1 * tf.exp(-2.0 * _expand(t, x) * self.log_sigma_1) * (x - k_hat) ** 2
        )

    def discrete_time_loss(self, x, mu, t, out, i, n, eps):
        """n [ln p_S(y | x; alpha_i) - ln p_R(y | theta; t, alpha_i)] (Eq. 113).

        With y = x + eps/sqrt(alpha_i).

        p_R(y) = sum_k p_O(k) N(y | k_c, 1/alpha_i); the Gaussian normalisers cancel.
        """
        alpha = self.alpha(_expand(i, x), n)
        y = self.sender_sample(x, alpha, eps)
        probs = self.output_probs(mu, t, out)
        log_sender = -0.5 * alpha * (y - x) ** 2
        log_receiver = tf.reduce_logsumexp(
            _safe_log(probs, 1e-30)
            - 0.5 * alpha[..., None] * (y[..., None] - bin_centres(self.num_bins)) ** 2,
            axis=-1,
        )
        return n * (log_sender - log_receiver)

    def reconstruction_loss(self, x, mu, out):
        """L^r = -ln p_O(x | theta; 1) (Eq. 120)."""
        probs = self.output_probs(mu, tf.ones(tf.shape(x)[:1]), out)
        picked = tf.gather(probs, bin_index(x, self.num_bins), batch_dims=x.shape.rank)
        return -_safe_log(picked)

    # Sampling (Sec. 5.5): k ~ p_O, y ~ N(k_c, 1/alpha);
    # the result is k ~ p_O(theta; 1) (bin index).
    def receiver_sample(self, state, t, out, alpha, seed):
        probs = self.output_probs(state[0], t, out)
        k = noise.categorical_from_probs(probs, noise.uniform_from_seed(tf.shape(probs)[:-1], seed))
        k_c = tf.gather(bin_centres(self.num_bins), k)
        return self.sender_sample(k_c, alpha, noise.normal_from_seed(tf.shape(k_c), seed + [0, 1]))

    def final_sample(self, state, out, seed):
        probs = self.output_probs(state[0], tf.ones(tf.shape(out)[:1]), out)
        return noise.categorical_from_probs(
            probs, noise.uniform_from_seed(tf.shape(probs)[:-1], seed)
        )


class DiscreteBFN(_BayesianFlow):
    """Bayesian flow for categorical data with K classes (Sec. 6).

    Args:
      num_categories: int K >= 2.
      beta_1: float, beta(1) of the schedule beta(t) = beta_1 t^2 (see the
        module docstring for the reading of the paper's values).

    Data x are int class indices [B, ...]. The network input is theta
    [B, ..., K] on the simplex; its output is logits [B, ..., K] of p_O.
    """

    def __init__(self, num_categories=2, beta_1=9.0):
        self.num_categories = check_int(num_categories, "num_categories", 2)
        self.beta_1 = check_float(beta_1, "beta_1", 0.0, low_open=True)

    def get_config(self):
        return {"num_categories": self.num_categories, "beta_1": self.beta_1}

    # Sec. 6.8: beta(t) = beta_1 t^2, alpha_i = beta(i/n) - beta((i-1)/n) = beta_1 (2i - 1) / n^2.
    def beta(self, t):
        return self.beta_1 * tf.cast(t, tf.float32) ** 2

    def alpha(self, i, n):
        i, n = tf.cast(i, tf.float32), tf.cast(n, tf.float32)
        return self.beta_1 * (2.0 * i - 1.0) / n**2

    def prior(self, shape):
        return (tf.fill(tf.concat([shape, [self.num_categories]], 0), 1.0 / self.num_categories),)

    @staticmethod
    def network_input(state):
        return state[0]

    def _mean_direction(self, x):
        """K e_x - 1 [..., K] for int classes x [...]."""
        return self.num_categories * tf.one_hot(x, self.num_categories) - 1.0

    def sender_sample(self, x, alpha, eps):
        """y ~ p_S(y | x; alpha) = N(alpha (K e_x - 1), alpha K I) (Eq. 133); alpha is [...]."""
        alpha = alpha[..., None] if tf.convert_to_tensor(alpha).shape.rank else alpha
        return alpha * self._mean_direction(x) + tf.sqrt(alpha * self.num_categories) * eps

    @staticmethod
    def bayesian_update(state, y, alpha=None):
        """theta' = exp(y) theta / sum_k exp(y_k) theta_k (Eq. 127)."""
        del alpha
        return (tf.nn.softmax(_safe_log(state[0], 1e-37) + y, axis=-1),)

    def flow_sample(self, x, t, eps):
        """theta = softmax(y), y ~ N(beta(t)(K e_x - 1), beta(t) K I) (Eq. 139-140)."""
        beta = self.beta(_expand(t, tf.cast(x, tf.float32)))
        return tf.nn.softmax(self.sender_sample(x, beta, eps), axis=-1)

    @staticmethod
    def output_probs(out):
        return tf.nn.softmax(out, axis=-1)

    def continuous_time_loss(self, x, theta, t, out):
        """L^inf = K beta_1 t ||e_x - e_hat(theta, t)||^2 (Eq. 161 with alpha(t) = 2 beta_1 t)."""
        e_hat = self.output_probs(out)
        error = tf.reduce_sum((tf.one_hot(x, self.num_categories) - e_hat) ** 2, axis=-1)
        return self.num_categories * self.beta_1 * _expand(t, error) * error

    def discrete_time_loss(self, x, theta, t, out, i, n, eps):
        """n [ln p_S(y | x; alpha_i) - ln p_R(y | theta; t, alpha_i)] with y ~ p_S (Eq. 152).

        For these Gaussians ln N(y | alpha(K e_k - 1), alpha K I) = c(y) + y_k, so the
        difference is y_x - logsumexp_k(ln p_O(k) + y_k).
        """
        alpha = self.alpha(_expand(i, tf.cast(x, tf.float32)), n)
        y = self.sender_sample(x, alpha, eps)
        log_probs = tf.nn.log_softmax(out, axis=-1)
        y_x = tf.reduce_sum(tf.one_hot(x, self.num_categories) * y, axis=-1)
        return n * (y_x - tf.reduce_logsumexp(log_probs + y, axis=-1))

    def reconstruction_loss(self, x, theta, out):
        """L^r = -ln p_O(x | theta; 1) (Eq. 160)."""
        log_probs = tf.nn.log_softmax(out, axis=-1)
        return -tf.reduce_sum(tf.one_hot(x, self.num_categories) * log_probs, axis=-1)

    # Sampling (Sec. 6.10): k ~ p_O, y ~ p_S(. | k; alpha); the result is k ~ p_O(theta; 1).
    def receiver_sample(self, state, t, out, alpha, seed):
        probs = self.output_probs(out)
        k = noise.categorical_from_probs(probs, noise.uniform_from_seed(tf.shape(probs)[:-1], seed))
        return self.sender_sample(k, alpha, noise.normal_from_seed(tf.shape(probs), seed + [0, 1]))

    def final_sample(self, state, out, seed):
        probs = self.output_probs(out)
        return noise.categorical_from_probs(
            probs, noise.uniform_from_seed(tf.shape(probs)[:-1], seed)
        )
