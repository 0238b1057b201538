"""Graves' mixture-density backpropagation (1607.05690): gradients against references.

References: TFP's `MixtureSameFamily(reparameterize=True)` on the same
samples, an independent NumPy/SciPy forward substitution of
`dx_d/dtheta = -(dF_d/dtheta + sum_{j<d} dF_d/dx_j dx_j/dtheta) / f_d` with
finite-difference partial derivatives, and (in 1-D) finite differences of an
exact quadrature of E[f(x)].
"""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from scipy import integrate, special, stats

from tfgen import noise
from tfgen.distributions.mixture import (
    MixtureOfDiagonalGaussians,
    conditional_cdf,
    reparameterize,
)

tfd = tfp.distributions


def _random_mixture(seed, batch, k, d, dtype=np.float64):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(batch, k))
    loc = rng.normal(size=(batch, k, d)) * 1.5
    scale = np.exp(rng.normal(size=(batch, k, d)) * 0.4)
    return logits.astype(dtype), loc.astype(dtype), scale.astype(dtype)


def _gradients(loss_fn, params):
    params = [tf.constant(p) for p in params]
    with tf.GradientTape() as tape:
        tape.watch(params)
        loss = loss_fn(*params)
    return [g.numpy() for g in tape.gradient(loss, params)]


# TFP on the same samples -------------------------------------------------------
@pytest.mark.parametrize("k,d,seed", [(1, 3, 0), (2, 1, 1), (3, 4, 2), (5, 6, 3)])
def test_gradients_equal_tfp_mixture_same_family(k, d, seed):
    logits, loc, scale = _random_mixture(seed, 6, k, d)
    cotangent = tf.constant(np.random.default_rng(seed + 10).normal(size=(6, d)))

    def tfp_dist(lg, mu, sigma):
        return tfd.MixtureSameFamily(
            tfd.Categorical(logits=lg),
            tfd.Independent(tfd.Normal(mu, sigma), 1),
            reparameterize=True,
        )

    x = tfp_dist(logits, loc, scale).sample(seed=(seed, 7))
    expected = _gradients(
        lambda lg, mu, sigma: tf.reduce_sum(
            cotangent * tfp_dist(lg, mu, sigma)._reparameterize_sample(x, [d])
        ),
        [logits, loc, scale],
    )
    actual = _gradients(
        lambda lg, mu, sigma: tf.reduce_sum(cotangent * reparameterize(x, lg, mu, sigma)),
        [logits, loc, scale],
    )
    for name, e, a in zip(("logits", "loc", "scale"), expected, actual):
        np.testing.assert_allclose(a, e, rtol=1e-9, atol=1e-10, err_msg=name)


def test_gradients_equal_tfp_through_public_sample():
    """TFP's public `sample` path (its own draws, gradients via its custom op)."""
    logits, loc, scale = _random_mixture(4, 3, 3, 2, np.float32)
    weights = tf.constant([[1.0, -2.0], [0.5, 0.3], [-1.0, 1.0]])
    params = [tf.constant(p) for p in (logits, loc, scale)]
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(params)
        x = tfd.MixtureSameFamily(
            tfd.Categorical(logits=params[0]),
            tfd.Independent(tfd.Normal(params[1], params[2]), 1),
            reparameterize=True,
        ).sample(seed=(3, 4))
        expected_loss = tf.reduce_sum(weights * tf.sin(x))
        actual_loss = tf.reduce_sum(weights * tf.sin(reparameterize(x, *params)))
    for e, a in zip(tape.gradient(expected_loss, params), tape.gradient(actual_loss, params)):
        np.testing.assert_allclose(a.numpy(), e.numpy(), rtol=1e-4, atol=1e-5)


# Independent NumPy reference: Graves' forward substitution ----------------------
def _np_conditional_cdf(x, logits, loc, scale):
    """u_d = F_d(x_d | x_<d) for one example; weights by Bayes' rule on x_<d (Sec. 2)."""
    d_size = x.shape[-1]
    u = np.empty(d_size)
    for d in range(d_size):
        log_w = logits + stats.norm.logpdf(x[:d], loc[:, :d], scale[:, :d]).sum(axis=1)
        w = np.exp(log_w - special.logsumexp(log_w))
        u[d] = np.sum(w * stats.norm.cdf(x[d], loc[:, d], scale[:, d]))
    return u


def _np_forward_substitution(x, logits, loc, scale, h=1e-6):
    """dx/dtheta [D, P] for theta = (logits, loc, scale) flattened, Graves Sec. 3."""
    theta = np.concatenate([logits.ravel(), loc.ravel(), scale.ravel()])
    k, d_size = loc.shape

    def cdf(x_, theta_):
        lg = theta_[:k]
        mu = theta_[k : k + k * d_size].reshape(k, d_size)
        sigma = theta_[k + k * d_size :].reshape(k, d_size)
        return _np_conditional_cdf(x_, lg, mu, sigma)

    def central(fn, v, i):
        e = np.zeros_like(v)
        e[i] = h
        return (fn(v + e) - fn(v - e)) / (2 * h)

    df_dx = np.stack([central(lambda v: cdf(v, theta), x, j) for j in range(d_size)], axis=1)
    df_dtheta = np.stack(
        [central(lambda v: cdf(x, v), theta, p) for p in range(theta.size)], axis=1
    )
    dx = np.zeros((d_size, theta.size))
    for d in range(d_size):  # forward substitution down the lower-triangular Jacobian
        dx[d] = -(df_dtheta[d] + df_dx[d, :d] @ dx[:d]) / df_dx[d, d]
    return dx, df_dx


@pytest.mark.parametrize("k,d,seed", [(2, 3, 5), (4, 5, 6)])
def test_gradients_equal_numpy_forward_substitution(k, d, seed):
    logits, loc, scale = _random_mixture(seed, 1, k, d)
    q = MixtureOfDiagonalGaussians(logits, loc, scale)
    x = q.sample(seed=seed).numpy()
    expected, df_dx = _np_forward_substitution(x[0], logits[0], loc[0], scale[0])
    assert np.allclose(np.triu(df_dx, 1), 0.0, atol=1e-9)  # lower triangular
    rows = []
    for i in range(d):  # d x_i / d theta by backpropagating the basis vector e_i
        e_i = tf.one_hot([i], d, dtype=tf.float64)
        grads = _gradients(
            lambda lg, mu, sigma, e_i=e_i: tf.reduce_sum(e_i * reparameterize(x, lg, mu, sigma)),
            [logits, loc, scale],
        )
        rows.append(np.concatenate([g.ravel() for g in grads]))
    np.testing.assert_allclose(np.stack(rows), expected, rtol=1e-5, atol=1e-6)


# 1-D: pathwise gradient of E[f(x)] against finite differences of quadrature ----
def _f(x):
    return np.sin(2.0 * x) + x**2


def _quadrature_expectation(logits, loc, scale):
    w = special.softmax(logits)
    total = 0.0
    for wk, mu, sigma in zip(w, loc, scale):
        value, _ = integrate.quad(
            lambda x, mu=mu, sigma=sigma: _f(x) * stats.norm.pdf(x, mu, sigma),
            -np.inf,
            np.inf,
            epsabs=1e-12,
            epsrel=1e-12,
        )
        total += wk * value
    return total


def test_1d_expectation_gradient_matches_quadrature():
    logits = np.array([0.3, -0.5, 0.1])
    loc = np.array([-1.5, 0.2, 1.8])
    scale = np.array([0.5, 0.8, 0.3])
    theta = [logits, loc, scale]
    h = 1e-5
    expected = []
    for i, p in enumerate(theta):
        grad = np.zeros_like(p)
        for j in range(p.size):
            plus = [q.copy() for q in theta]
            minus = [q.copy() for q in theta]
            plus[i][j] += h
            minus[i][j] -= h
            grad[j] = (_quadrature_expectation(*plus) - _quadrature_expectation(*minus)) / (2 * h)
        expected.append(grad)

    num_samples = 200_000

    def estimate(lg, mu, sigma):
        x = MixtureOfDiagonalGaussians(lg, mu[:, None], sigma[:, None]).sample(
            seed=11, sample_shape=[num_samples]
        )[:, 0]
        return tf.reduce_mean(tf.sin(2.0 * x) + tf.square(x))

    actual = _gradients(estimate, theta)
    for name, e, a in zip(("logits", "loc", "scale"), expected, actual):
        np.testing.assert_allclose(a, e, atol=0.01, err_msg=name)
    assert np.abs(expected[0]).max() > 0.2  # the weights' gradients are far above the tolerance


# Properties ------------------------------------------------------------------
def test_transform_of_samples_is_uniform():
    logits, loc, scale = _random_mixture(8, 1, 3, 3)
    q = MixtureOfDiagonalGaussians(logits[0], loc[0], scale[0])
    x = q.sample(seed=3, sample_shape=[4000])
    u = conditional_cdf(x, logits[0], loc[0], scale[0]).numpy()
    for d in range(3):
        assert stats.kstest(u[:, d], "uniform").pvalue > 1e-3


def test_single_component_is_the_gaussian_reparameterisation():
    loc = tf.constant([[[0.5, -1.0]]], tf.float64)
    scale = tf.constant([[[2.0, 0.5]]], tf.float64)
    logits = tf.zeros([1, 1], tf.float64)
    eps = tf.constant([[0.3, -1.2]], tf.float64)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([loc, scale, logits])
        x = MixtureOfDiagonalGaussians(logits, loc, scale).sample_from_noise(
            tf.constant([0.4], tf.float64), eps
        )
        total = tf.reduce_sum(x)
    np.testing.assert_allclose(x.numpy(), (loc[:, 0] + scale[:, 0] * eps).numpy())
    np.testing.assert_allclose(tape.gradient(total, loc).numpy(), np.ones([1, 1, 2]))
    np.testing.assert_allclose(tape.gradient(total, scale).numpy(), eps.numpy()[:, None])
    np.testing.assert_allclose(tape.gradient(total, logits).numpy(), 0.0, atol=1e-12)


def test_log_prob_equals_tfp():
    logits, loc, scale = _random_mixture(9, 4, 3, 5)
    x = np.random.default_rng(1).normal(size=(4, 5))
    expected = tfd.MixtureSameFamily(
        tfd.Categorical(logits=logits), tfd.Independent(tfd.Normal(loc, scale), 1)
    ).log_prob(x)
    actual = MixtureOfDiagonalGaussians(logits, loc, scale).log_prob(x)
    np.testing.assert_allclose(actual.numpy(), expected.numpy(), rtol=1e-10)


def test_samples_have_the_mixture_moments():
    logits, loc, scale = _random_mixture(12, 1, 3, 2)
    x = (
        MixtureOfDiagonalGaussians(logits[0], loc[0], scale[0])
        .sample(seed=5, sample_shape=[50_000])
        .numpy()
    )
    w = special.softmax(logits[0])
    mean = w @ loc[0]
    second = w @ (loc[0] ** 2 + scale[0] ** 2)
    np.testing.assert_allclose(x.mean(0), mean, atol=0.03)
    np.testing.assert_allclose((x**2).mean(0), second, atol=0.08)


def test_stateless_noise_is_the_same_under_xla():
    def draw(seed):
        q = MixtureOfDiagonalGaussians(tf.zeros([3, 2]), tf.zeros([3, 2, 4]), tf.ones([3, 2, 4]))
        return q.sample(seed, [5]), noise.normal_from_seed([7], seed)

    seed = tf.constant(42, tf.int64)
    eager = draw(seed)
    compiled = tf.function(draw, jit_compile=True)(seed)
    for e, c in zip(eager, compiled):
        np.testing.assert_allclose(c.numpy(), e.numpy(), rtol=1e-6, atol=1e-6)
    z = noise.normal_from_seed([10_000], seed).numpy()
    assert abs(z.mean()) < 0.05 and abs(z.std() - 1.0) < 0.05


def test_shape_errors():
    with pytest.raises(ValueError, match="same number of components"):
        MixtureOfDiagonalGaussians(tf.zeros([2, 3]), tf.zeros([2, 4, 5]), tf.ones([2, 4, 5]))
    with pytest.raises(ValueError, match=r"loc: expected shape \[..., K, D\]"):
        MixtureOfDiagonalGaussians(tf.zeros([3]), tf.zeros([3]), tf.ones([3]))
    with pytest.raises(TypeError, match="expected a float tensor"):
        MixtureOfDiagonalGaussians(tf.zeros([3]), tf.zeros([3, 2], tf.int32), tf.ones([3, 2]))
