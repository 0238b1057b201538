"""BFN families (2308.07037) against a NumPy/SciPy reference written from the paper.

The reference functions (`_ref_*`) follow the paper's equations in float64 with
SciPy densities (no cancellations of Gaussian normalisers), independently of
`tfgen.distributions.bfn`.
"""

import math

import numpy as np
import pytest
import tensorflow as tf
from scipy import special, stats

from tfgen import noise
from tfgen.distributions import bfn

SIGMA_1 = 0.02
RNG = np.random.RandomState(0)


# ------------------------------------------------------------------ reference
def _ref_gamma(t, sigma_1):
    return 1.0 - sigma_1 ** (2.0 * t)


def _ref_alpha_continuous(i, n, sigma_1):
    return sigma_1 ** (-2.0 * i / n) * (1.0 - sigma_1 ** (2.0 / n))


def _ref_x_hat(mu, t, eps_hat, sigma_1, t_min=1e-6):
    gamma = _ref_gamma(t, sigma_1)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_hat = mu / gamma - np.sqrt((1.0 - gamma) / gamma) * eps_hat
    return np.clip(np.where(t < t_min, 0.0, x_hat), -1.0, 1.0)


def _ref_bin_probs(mean, std, num_bins):
    k = np.arange(1, num_bins + 1)
    centres = (2 * k - 1) / num_bins - 1
    left, right = centres - 1.0 / num_bins, centres + 1.0 / num_bins
    left[0], right[-1] = -np.inf, np.inf
    return stats.norm.cdf(right, mean[..., None], std[..., None]) - stats.norm.cdf(
        left, mean[..., None], std[..., None]
    )


def _ref_discretised_output(mu, t, out, sigma_1, num_bins, t_min=1e-6):
    gamma = _ref_gamma(t, sigma_1)
    scale = np.sqrt((1 - gamma) / np.maximum(gamma, 1e-300))
    mu_x = np.where(t < t_min, 0.0, mu / np.maximum(gamma, 1e-300) - scale * out[..., 0])
    sigma_x = np.where(t < t_min, 1.0, scale * np.exp(out[..., 1]))
    return _ref_bin_probs(mu_x, sigma_x, num_bins)


def _ref_centres(num_bins):
    return (2 * np.arange(1, num_bins + 1) - 1) / num_bins - 1


def _ref_softmax(z):
    return special.softmax(z, axis=-1)


def _tf(*arrays):
    return [tf.constant(a, tf.float32) for a in arrays]


# ------------------------------------------------------------------ continuous
def test_continuous_schedule_and_flow():
    flow = bfn.ContinuousBFN(SIGMA_1)
    t = np.linspace(0, 1, 11)
    np.testing.assert_allclose(
        flow.gamma(tf.constant(t, tf.float32)), _ref_gamma(t, SIGMA_1), rtol=1e-5, atol=1e-7
    )
    np.testing.assert_allclose(
        flow.beta(tf.constant(t, tf.float32)), SIGMA_1 ** (-2 * t) - 1, rtol=1e-5
    )
    # alpha_i = beta(t_i) - beta(t_{i-1}).
    i = np.arange(1, 8.0)
    np.testing.assert_allclose(
        flow.alpha(tf.constant(i), 7.0), _ref_alpha_continuous(i, 7, SIGMA_1), rtol=1e-5
    )
    x, eps = RNG.uniform(-1, 1, [4, 3]), RNG.randn(4, 3)
    tb = np.array([0.0, 0.2, 0.7, 1.0])
    gamma = _ref_gamma(tb, SIGMA_1)[:, None]
    expected = gamma * x + np.sqrt(gamma * (1 - gamma)) * eps
    np.testing.assert_allclose(flow.flow_sample(*_tf(x, tb, eps)), expected, rtol=1e-5, atol=1e-6)


def test_continuous_losses_match_reference():
    flow = bfn.ContinuousBFN(SIGMA_1, num_bins=16)
    x = _ref_centres(16)[RNG.randint(0, 16, [5, 6])]
    t = np.array([0.0, 1e-7, 0.3, 0.8, 1.0])
    mu = RNG.randn(5, 6) * 0.5
    eps_hat = RNG.randn(5, 6)
    i, n = np.array([1.0, 2, 3, 5, 7]), 7.0
    x_hat = _ref_x_hat(mu, t[:, None], eps_hat, SIGMA_1)
    np.testing.assert_allclose(flow.output_mean(*_tf(mu, t, eps_hat)), x_hat, rtol=1e-4, atol=1e-5)
    expected_inf = -math.log(SIGMA_1) * SIGMA_1 ** (-2 * t[:, None]) * (x - x_hat) ** 2
    np.testing.assert_allclose(
        flow.continuous_time_loss(*_tf(x, mu, t, eps_hat)), expected_inf, rtol=1e-4, atol=1e-5
    )
    expected_n = n / 2 * _ref_alpha_continuous(i, n, SIGMA_1)[:, None] * (x - x_hat) ** 2
    np.testing.assert_allclose(
        flow.discrete_time_loss(*_tf(x, mu, t, eps_hat, i), n), expected_n, rtol=1e-4, atol=1e-5
    )
    # L^r: the bin of x under N(x_hat(theta, 1), sigma_1^2), outer bins extended.
    x_hat_1 = _ref_x_hat(mu, 1.0, eps_hat, SIGMA_1)
    probs = _ref_bin_probs(x_hat_1, np.full_like(x_hat_1, SIGMA_1), 16)
    k = np.round((x + 1) * 8 - 0.5).astype(int)
    expected_r = -np.log(np.maximum(np.take_along_axis(probs, k[..., None], -1)[..., 0], 1e-10))
    np.testing.assert_allclose(
        flow.reconstruction_loss(*_tf(x, mu, eps_hat)), expected_r, rtol=1e-4, atol=1e-4
    )


def test_continuous_bayesian_update_moments():
    flow = bfn.ContinuousBFN(SIGMA_1)
    mu, rho, alpha, x = 0.3, 2.0, 5.0, -0.4
    eps = tf.random.stateless_normal([200000], [1, 2])
    y = flow.sender_sample(tf.constant(x), tf.constant(alpha), eps)
    mu_new, rho_new = flow.bayesian_update((tf.constant(mu), tf.constant(rho)), y, alpha)
    assert float(rho_new) == pytest.approx(rho + alpha)
    # Eq. 49-50 and the update distribution (Eq. 52):
    # mu' ~ N((mu rho + x alpha)/rho', alpha/rho'^2).
    np.testing.assert_allclose(np.mean(mu_new), (mu * rho + x * alpha) / (rho + alpha), atol=3e-3)
    np.testing.assert_allclose(np.var(mu_new), alpha / (rho + alpha) ** 2, rtol=2e-2)


# ------------------------------------------------------------------ discretised
def test_discretised_output_and_losses_match_reference():
    K = 8
    flow = bfn.DiscretisedBFN(K, SIGMA_1)
    x = _ref_centres(K)[RNG.randint(0, K, [5, 4])]
    t = np.array([0.0, 0.1, 0.5, 0.9, 1.0])
    gamma = _ref_gamma(t, SIGMA_1)[:, None]
    mu = gamma * x + np.sqrt(gamma * (1 - gamma)) * RNG.randn(5, 4)  # theta from the flow
    out = np.stack([RNG.randn(5, 4), RNG.uniform(0.5, 1.5, [5, 4])], -1)  # p_O not tiny
    eps = RNG.randn(5, 4)
    i, n = np.array([1.0, 2, 4, 5, 3]), 5.0
    probs = _ref_discretised_output(mu, t[:, None], out, SIGMA_1, K)
    np.testing.assert_allclose(flow.output_probs(*_tf(mu, t, out)), probs, atol=1e-5)
    np.testing.assert_allclose(np.sum(probs, -1), 1.0, rtol=1e-12)
    k_hat = np.sum(probs * _ref_centres(K), -1)
    np.testing.assert_allclose(flow.k_hat(flow.output_probs(*_tf(mu, t, out))), k_hat, atol=1e-5)
    np.testing.assert_allclose(
        flow.continuous_time_loss(*_tf(x, mu, t, out)),
        -math.log(SIGMA_1) * SIGMA_1 ** (-2 * t[:, None]) * (x - k_hat) ** 2,
        rtol=2e-4,
        atol=1e-4,
    )
    # L^n: n [ln p_S(y | x; alpha) - ln sum_k p_O(k) N(y | k_c, 1/alpha)],
    # y = x + eps / sqrt(alpha).
    alpha = _ref_alpha_continuous(i, n, SIGMA_1)[:, None]
    y = x + eps / np.sqrt(alpha)
    std = 1 / np.sqrt(alpha)
    log_sender = stats.norm.logpdf(y, x, std)
    log_receiver = special.logsumexp(
        np.log(probs) + stats.norm.logpdf(y[..., None], _ref_centres(K), std[..., None]), axis=-1
    )
    np.testing.assert_allclose(
        flow.discrete_time_loss(*_tf(x, mu, t, out, i), n, _tf(eps)[0]),
        n * (log_sender - log_receiver),
        rtol=1e-3,
        atol=2e-3,
    )
    gamma_1 = _ref_gamma(1.0, SIGMA_1)
    mu_1 = gamma_1 * x + np.sqrt(gamma_1 * (1 - gamma_1)) * RNG.randn(5, 4)
    probs_1 = _ref_discretised_output(mu_1, 1.0, out, SIGMA_1, K)
    k = np.round((x + 1) * K / 2 - 0.5).astype(int)
    np.testing.assert_allclose(
        flow.reconstruction_loss(*_tf(x, mu_1, out)),
        -np.log(np.take_along_axis(probs_1, k[..., None], -1)[..., 0]),
        rtol=1e-4,
        atol=1e-4,
    )


# ------------------------------------------------------------------ discrete
def _ref_discrete_losses(x, t, logits, i, n, eps, K, beta_1):
    e_x = np.eye(K)[x]
    p = _ref_softmax(logits)
    l_inf = K * beta_1 * t[:, None] * np.sum((e_x - p) ** 2, -1)
    alpha = beta_1 * (2 * i - 1) / n**2
    a = alpha[:, None, None]
    y = a * (K * e_x - 1) + np.sqrt(a * K) * eps
    std = np.sqrt(a * K)
    log_sender = np.sum(stats.norm.logpdf(y, a * (K * e_x - 1), std), -1)
    means = a[..., None] * (K * np.eye(K) - 1)  # [B, 1, K(classes), K(dims)]
    log_components = np.sum(stats.norm.logpdf(y[..., None, :], means, std[..., None]), -1)
    log_receiver = special.logsumexp(np.log(p) + log_components, axis=-1)
    l_n = n * (log_sender - log_receiver)
    l_r = -np.log(np.take_along_axis(p, x[..., None], -1)[..., 0])
    return l_inf, l_n, l_r


@pytest.mark.parametrize("K,beta_1", [(2, 9.0), (5, 0.5625)])
def test_discrete_losses_match_reference(K, beta_1):
    flow = bfn.DiscreteBFN(K, beta_1)
    x = RNG.randint(0, K, [4, 3])
    t = np.array([0.0, 0.25, 0.6, 1.0])
    logits = RNG.randn(4, 3, K)
    eps = RNG.randn(4, 3, K)
    i, n = np.array([1.0, 3, 6, 10]), 10.0
    l_inf, l_n, l_r = _ref_discrete_losses(x, t, logits, i, n, eps, K, beta_1)
    theta = tf.fill([4, 3, K], 1.0 / K)  # Unused by the losses.
    xt = tf.constant(x, tf.int32)
    tt, lt, it, et = _tf(t, logits, i, eps)
    np.testing.assert_allclose(
        flow.continuous_time_loss(xt, theta, tt, lt), l_inf, rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(
        flow.discrete_time_loss(xt, theta, tt, lt, it, n, et), l_n, rtol=1e-4, atol=1e-4
    )
    np.testing.assert_allclose(flow.reconstruction_loss(xt, theta, lt), l_r, rtol=1e-5)
    # Flow: theta = softmax(y), y ~ N(beta(t)(K e_x - 1), beta(t) K I), beta(t) = beta_1 t^2.
    beta = beta_1 * t[:, None, None] ** 2
    expected = _ref_softmax(beta * (K * np.eye(K)[x] - 1) + np.sqrt(beta * K) * eps)
    np.testing.assert_allclose(flow.flow_sample(xt, tt, et), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(flow.alpha(it, n), beta_1 * (2 * i - 1) / n**2, rtol=1e-6)


def test_discrete_bayesian_update():
    flow = bfn.DiscreteBFN(4, 1.0)
    theta = _ref_softmax(RNG.randn(6, 4))
    y = RNG.randn(6, 4) * 3
    expected = np.exp(y) * theta / np.sum(np.exp(y) * theta, -1, keepdims=True)
    (updated,) = flow.bayesian_update(tuple(_tf(theta)), _tf(y)[0])
    np.testing.assert_allclose(updated, expected, rtol=1e-5)
    # Moments of the sender (Eq. 133): mean alpha (K e_x - 1), variance alpha K.
    alpha, x = 0.7, tf.fill([100000], 2)
    y = flow.sender_sample(x, alpha, tf.random.stateless_normal([100000, 4], [3, 4])).numpy()
    np.testing.assert_allclose(y.mean(0), alpha * (4 * np.eye(4)[2] - 1), atol=0.02)
    np.testing.assert_allclose(y.var(0), alpha * 4, rtol=0.02)


# ---------------------------------------------- choosing beta(1) for discrete data
def _ref_entropy_bits(num_categories, beta, size=20000, seed=3):
    """E[H(theta)] in bits, theta = softmax(y), y ~ N(beta (K e_x - 1), beta K I) (Eq. 139-140)."""
    K = num_categories
    y = beta * (K * np.eye(K)[2] - 1) + np.sqrt(beta * K) * np.random.default_rng(
        seed
    ).standard_normal((size, K))
    return float(np.mean(stats.entropy(_ref_softmax(y), axis=1, base=2)))


def _ref_binary_entropy_bits(beta):
    """K = 2 by quadrature: theta_x = sigmoid(y_x - y_o), y_x - y_o ~ N(2 beta, 4 beta)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    p = special.expit(2 * beta + 2 * np.sqrt(beta) * nodes)
    return float(np.dot(weights, stats.entropy([p, 1 - p], base=2)) / weights.sum())


@pytest.mark.parametrize("beta", [0.0, 0.05, 0.5, 3.0, 9.0])
def test_flow_entropy_binary_matches_quadrature(beta):
    bits = bfn.flow_entropy(2, beta) / math.log(2)
    assert bits == pytest.approx(_ref_binary_entropy_bits(beta), abs=3e-3)


@pytest.mark.parametrize("K,beta", [(27, 0.1), (27, 0.5625), (256, 0.03), (256, 0.087)])
def test_flow_entropy_matches_reference(K, beta):
    bits = bfn.flow_entropy(K, beta) / math.log(2)
    assert bits == pytest.approx(_ref_entropy_bits(K, beta), rel=0.02, abs=0.02)


def test_discrete_beta_1_is_the_papers_text8_setting_for_27_symbols():
    """Sec. 6.8: the text8 sqrt(beta(1)) = 0.75 leaves 0.2 bits at t = 1; the rule returns it."""
    assert _ref_entropy_bits(27, 0.75**2) == pytest.approx(bfn.FINAL_ENTROPY_BITS, abs=0.02)
    assert math.sqrt(bfn.discrete_beta_1(27)) == pytest.approx(0.75, abs=0.005)
    # The binarised-MNIST setting (K = 2, sqrt(beta(1)) = 3) is nearly certain too, more so.
    assert _ref_binary_entropy_bits(3.0**2) < 0.01


def test_discrete_beta_1_for_bytes_is_certain_at_t_1_and_not_before():
    beta_1 = bfn.discrete_beta_1(256)
    assert beta_1 == pytest.approx(0.087, abs=0.001)
    assert _ref_entropy_bits(256, beta_1) == pytest.approx(0.2, abs=0.02)
    assert _ref_entropy_bits(256, beta_1 * 0.8**2) > 0.8  # beta(t) = beta_1 t^2 at t = 0.8
    # text8's 0.5625 for bytes: that certain by t = 0.4, nearly no entropy left from t = 0.5.
    assert _ref_entropy_bits(256, 0.5625 * 0.4**2) < 0.2
    assert _ref_entropy_bits(256, 0.5625 * 0.5**2) < 0.02
    # A stricter threshold takes a larger beta(1); the threshold is checked.
    assert bfn.discrete_beta_1(256, 0.05) > beta_1
    with pytest.raises(ValueError, match="final_entropy_bits"):
        bfn.discrete_beta_1(4, 2.0)  # log2 K bits: the prior's entropy


# ------------------------------------------------------- the central identity
def _sequential(flow, x, state, steps, n, seed):
    """Bayesian updates with sender samples of the data at accuracies alpha_1..alpha_steps."""
    for i in range(1, steps + 1):
        alpha = flow.alpha(float(i), float(n))
        shape = state[0].shape
        y = flow.sender_sample(x, alpha, tf.random.stateless_normal(shape, [seed, i]))
        state = flow.bayesian_update(state, y, alpha)
    return state


def test_continuous_flow_equals_sequential_updates():
    """p_F(theta | x; t_k) is the distribution after k updates with alpha_1..alpha_k (Sec. 4.4)."""
    flow = bfn.ContinuousBFN(SIGMA_1)
    size, n, k = 50000, 10, 6
    x = tf.fill([size], 0.35)
    mu, _ = _sequential(flow, x, flow.prior([size]), k, n, seed=11)
    one_shot = flow.flow_sample(
        x, tf.fill([size], k / n), tf.random.stateless_normal([size], [5, 5])
    )
    gamma = _ref_gamma(k / n, SIGMA_1)
    for sample in (mu.numpy(), one_shot.numpy()):
        np.testing.assert_allclose(sample.mean(), gamma * 0.35, atol=4e-3)
        np.testing.assert_allclose(sample.var(), gamma * (1 - gamma), rtol=3e-2)
    assert stats.ks_2samp(mu.numpy(), one_shot.numpy()).pvalue > 0.01


@pytest.mark.parametrize("K,beta_1", [(2, 9.0), (4, 2.0)])
def test_discrete_flow_equals_sequential_updates(K, beta_1):
    """theta after k updates ~ softmax(N(beta(t_k)(K e_x - 1), beta(t_k) K I)) (Sec. 6.3)."""
    flow = bfn.DiscreteBFN(K, beta_1)
    size, n, k = 40000, 8, 5
    x = tf.fill([size], 1)
    (theta,) = _sequential(flow, x, flow.prior([size]), k, n, seed=21)
    one_shot = flow.flow_sample(
        x, tf.fill([size], k / n), tf.random.stateless_normal([size, K], [6, 6])
    )
    seq, flw = theta.numpy(), one_shot.numpy()
    np.testing.assert_allclose(seq.sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(seq.mean(0), flw.mean(0), atol=6e-3)
    np.testing.assert_allclose(seq.std(0), flw.std(0), atol=6e-3)
    for c in range(K):
        assert stats.ks_2samp(seq[:, c], flw[:, c]).pvalue > 0.01


# ------------------------------------------------- L^n approaches L^inf as n grows
def _sender_quadrature(noise_shape, points):
    """Gauss-Hermite nodes [G, *noise_shape] and weights [G] of the standard normal."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(points)
    dims = int(np.prod(noise_shape))
    grid = np.stack(np.meshgrid(*[nodes] * dims, indexing="ij"), -1).reshape(-1, *noise_shape)
    w = np.prod(np.stack(np.meshgrid(*[weights] * dims, indexing="ij"), -1).reshape(-1, dims), -1)
    return grid.astype(np.float32), w / w.sum()


def _expected_losses(flow, x, out_fn, n_values, size, noise_shape, points=12):
    """E[L^n] (exhaustive i, MC over the flow, quadrature over the sender) and E[L^inf]."""

    def flow_and_output(t, seed):
        xs = tf.fill([t.shape[0]], x)
        theta = flow.flow_sample(
            xs, t, tf.random.stateless_normal([t.shape[0], *noise_shape], [seed, 1])
        )
        return xs, theta, out_fn(theta, t)

    t = tf.constant((np.arange(size) + 0.5) / size, tf.float32)
    xs, theta, out = flow_and_output(t, 7)
    l_inf = float(tf.reduce_mean(flow.continuous_time_loss(xs, theta, t, out)))
    nodes, weights = _sender_quadrature(noise_shape or [1], points)
    nodes = nodes.reshape(len(weights), *noise_shape)
    l_n = []
    for n in n_values:
        i = np.repeat(np.arange(1, n + 1), size // n).astype(np.float32)
        t = tf.constant((i - 1) / n)
        xs, theta, out = flow_and_output(t, 8)
        per_node = [
            tf.reduce_mean(
                flow.discrete_time_loss(
                    xs,
                    theta,
                    t,
                    out,
                    tf.constant(i),
                    float(n),
                    tf.broadcast_to(node, [len(i), *noise_shape]),
                )
            )
            for node in nodes
        ]
        l_n.append(float(np.dot(weights, per_node)))
    return l_inf, np.array(l_n)


def _check_convergence(l_inf, l_n, tolerance):
    gaps = np.abs(l_n - l_inf)
    assert gaps[-1] < tolerance * abs(l_inf), (l_inf, l_n)
    assert gaps[-1] < gaps[0] / 3, (l_inf, l_n)


def test_continuous_n_step_loss_approaches_continuous_time_loss():
    flow = bfn.ContinuousBFN(SIGMA_1)
    # Network: eps_hat = 0.3 mu (x_hat is a shrunk rescaling of the input mean).
    l_inf, l_n = _expected_losses(flow, 0.4, lambda mu, t: 0.3 * mu, [1, 4, 64, 256], 2**14, [])
    _check_convergence(l_inf, l_n, 0.03)


def test_discretised_n_step_loss_approaches_continuous_time_loss():
    flow = bfn.DiscretisedBFN(4, 0.1)
    x = float(_ref_centres(4)[2])
    out_fn = lambda mu, t: tf.stack([0.3 * mu, tf.zeros_like(mu)], -1)  # noqa: E731
    l_inf, l_n = _expected_losses(flow, x, out_fn, [1, 4, 64, 256], 2**14, [])
    _check_convergence(l_inf, l_n, 0.05)


def test_discrete_n_step_loss_approaches_continuous_time_loss():
    flow = bfn.DiscreteBFN(3, 4.0)
    # Network: p_O = a tempered copy of the input theta.
    out_fn = lambda theta, t: 0.5 * tf.math.log(theta)  # noqa: E731
    l_inf, l_n = _expected_losses(flow, 1, out_fn, [1, 4, 64, 256], 2**12, [3], points=6)
    _check_convergence(l_inf, l_n, 0.05)


# ------------------------------------------------------------- sampling loop
def test_sampling_loop_with_oracle_network_recovers_data():
    """With a network that outputs the data, n-step sampling returns the data (all families)."""
    data = tf.constant([[0, 3], [2, 1]], tf.int32)
    discrete = bfn.DiscreteBFN(4, 3.0)
    sample = discrete.sample(
        lambda theta, t: 30.0 * tf.one_hot(data, 4), [2, 2], 10, tf.constant(3, tf.int64)
    )
    np.testing.assert_array_equal(sample, data)
    discretised = bfn.DiscretisedBFN(4, 0.05)
    centres = tf.gather(bfn.bin_centres(4), data)

    def oracle(mu, t):  # mu_eps such that mu_x = x, tiny sigma_x.
        gamma = discretised.gamma(t)[:, None]
        scale = tf.sqrt((1 - gamma) / tf.maximum(gamma, 1e-6))
        return tf.stack(
            [
                (mu / tf.maximum(gamma, 1e-6) - centres) / tf.maximum(scale, 1e-6),
                tf.fill(tf.shape(mu), -8.0),
            ],
            -1,
        )

    np.testing.assert_array_equal(
        discretised.sample(oracle, [2, 2], 10, tf.constant(4, tf.int64)), data
    )


def _ref_continuous_sampler(network, size, n, sigma_1, rng):
    """The paper's n-step sampling for continuous data (Sec. 4.14) in float64 NumPy."""
    mu, rho = np.zeros(size), 1.0
    for i in range(1, n + 1):
        t = (i - 1) / n
        x_hat = _ref_x_hat(mu, np.float64(t), network(mu), sigma_1)
        alpha = _ref_alpha_continuous(i, n, sigma_1)
        y = x_hat + rng.standard_normal(size) / np.sqrt(alpha)  # y ~ N(x_hat, 1/alpha_i)
        mu, rho = (mu * rho + y * alpha) / (rho + alpha), rho + alpha  # Eq. 49-50
    return _ref_x_hat(mu, np.float64(1.0), network(mu), sigma_1)


@pytest.mark.parametrize("steps", [4, 10])
def test_continuous_sampling_matches_reference_sampler(steps):
    """The continuous sampling loop has the distribution of a NumPy run of the paper's procedure.

    The network is a fixed nonlinear eps_hat(mu); a step at the wrong t or with alpha_{i+1} for
    alpha_i moves the mean or the spread of the samples by several standard errors.
    """
    flow = bfn.ContinuousBFN(0.05)
    samples = flow.sample(
        lambda mu, t: 0.5 * tf.sin(3.0 * mu) + 0.2, [40000], steps, tf.constant(5, tf.int64)
    ).numpy()
    reference = _ref_continuous_sampler(
        lambda mu: 0.5 * np.sin(3.0 * mu) + 0.2, 40000, steps, 0.05, np.random.default_rng(1)
    )
    assert abs(samples.mean() - reference.mean()) < 0.01, (samples.mean(), reference.mean())
    np.testing.assert_allclose(samples.std(), reference.std(), rtol=0.02)
    assert stats.ks_2samp(samples, reference).pvalue > 0.01


def test_noise_helpers_same_with_and_without_xla():
    seed = noise.stream_seed(tf.constant(9, tf.int64), 4)
    fns = {"uniform": noise.uniform_from_seed, "normal": noise.normal_from_seed}
    for name, fn in fns.items():
        plain = fn([1000], seed).numpy()
        xla = tf.function(lambda s, fn=fn: fn([1000], s), jit_compile=True)(seed).numpy()
        np.testing.assert_allclose(plain, xla, rtol=1e-5, atol=1e-6, err_msg=name)
    u = noise.uniform_from_seed([100000], seed).numpy()
    assert 0 < u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.005
    z = noise.normal_from_seed([100000], seed).numpy()
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
