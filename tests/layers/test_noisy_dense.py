"""NoisyDense (NoisyNet, arXiv 1706.10295 Sec. 3) against closed forms from the paper.

For `y = (mu_w + sigma_w * eps_w)^T x + mu_b + sigma_b * eps_b` (Eq. 9):
* mean: `E[y] = mu_w^T x + mu_b` (all noise has zero mean);
* independent noise (Sec. 3(a)), eps ~ N(0, 1) i.i.d.:
  `Var[y_j] = sum_i x_i^2 sigma_w[i, j]^2 + sigma_b[j]^2`;
* factorised noise (Sec. 3(b)), eps_w[i, j] = f(a_i) f(b_j), eps_b[j] = f(b_j),
  f(e) = sgn(e) sqrt(|e|), a, b ~ N(0, 1):
  `y_j - E[y_j] = f(b_j) (sum_i x_i sigma_w[i, j] f(a_i) + sigma_b[j])`, so with
  `E[f(e)^2] = E|e| = sqrt(2 / pi) = c` and independent zero-mean f(a_i),
  `Var[y_j] = c (c sum_i x_i^2 sigma_w[i, j]^2 + sigma_b[j]^2)`.
"""

import math

import numpy as np
import pytest
import tensorflow as tf

from tests.test_case import run_layer_test
from tfgen.layers import NoisyDense

P, Q = 5, 3
NUM_DRAWS = 20000
C = math.sqrt(2.0 / math.pi)  # E|e| for e ~ N(0, 1)


def _built(noise, dtype="float32", **kwargs):
    layer = NoisyDense(Q, noise=noise, dtype=dtype, **kwargs)
    layer.build((None, P))
    return layer


def _weights(layer):
    return {name: getattr(layer, name).numpy() for name in ("mu_w", "sigma_w", "mu_b", "sigma_b")}


def _randomise_sigma(layer, seed=0):
    """Distinct positive sigmas, so the closed form's structure is really exercised."""
    rng = np.random.default_rng(seed)
    layer.sigma_w.assign(rng.uniform(0.1, 0.6, size=(P, Q)).astype(layer.dtype))
    layer.sigma_b.assign(rng.uniform(0.1, 0.6, size=(Q,)).astype(layer.dtype))


def _draws(layer, x, num_draws):
    """num_draws outputs for the fixed input x, each with fresh noise: [N, B, Q]."""

    @tf.function
    def draw():
        outputs = tf.TensorArray(layer.dtype, size=num_draws)
        for n in tf.range(num_draws):
            outputs = outputs.write(n, layer(x))
        return outputs.stack()

    return draw().numpy()


def _reference_variance(noise, x, w):
    """The paper's output variance, written from Sec. 3 (see the module docstring)."""
    weight_term = (x**2) @ (w["sigma_w"] ** 2)  # sum_i x_i^2 sigma_w[i, j]^2
    if noise == "independent":
        return weight_term + w["sigma_b"] ** 2
    return C * (C * weight_term + w["sigma_b"] ** 2)


@pytest.mark.parametrize(
    "noise, mu_bound, sigma",
    [
        ("factorised", 1 / math.sqrt(P), 0.5 / math.sqrt(P)),
        ("independent", math.sqrt(3 / P), 0.017),
    ],
)
def test_initialisation_follows_section_3_2(noise, mu_bound, sigma):
    layer = NoisyDense(400, noise=noise)
    layer.build((None, P))
    w = _weights(layer)
    for mu in (w["mu_w"], w["mu_b"]):
        assert np.all(np.abs(mu) <= mu_bound)
    # U[-bound, bound]: the spread reaches the bound and the variance is bound^2 / 3.
    assert np.abs(w["mu_w"]).max() > 0.98 * mu_bound
    np.testing.assert_allclose(w["mu_w"].var(), mu_bound**2 / 3, rtol=0.1)
    np.testing.assert_allclose(w["sigma_w"], sigma, rtol=1e-6)
    np.testing.assert_allclose(w["sigma_b"], sigma, rtol=1e-6)


def test_sigma_0_overrides_the_paper_value():
    layer = _built("factorised", sigma_0=0.1)
    np.testing.assert_allclose(layer.sigma_w.numpy(), 0.1 / math.sqrt(P), rtol=1e-6)


@pytest.mark.parametrize("noise", ["factorised", "independent"])
def test_output_mean_and_variance_match_closed_form(noise):
    layer = _built(noise)
    _randomise_sigma(layer)
    x = np.random.default_rng(1).normal(size=(4, P)).astype(np.float32)
    y = _draws(layer, x, NUM_DRAWS)
    w = _weights(layer)
    mean = x @ w["mu_w"] + w["mu_b"]
    variance = _reference_variance(noise, x, w)
    np.testing.assert_array_less(np.abs(y.mean(0) - mean), 5 * np.sqrt(variance / NUM_DRAWS))
    np.testing.assert_allclose(y.var(0), variance, rtol=0.07)
    # The other noise structure's variance is clearly rejected by the same test.
    other = _reference_variance("independent" if noise == "factorised" else "factorised", x, w)
    assert np.all(np.abs(y.var(0) / other - 1) > 0.1)


def _probe(layer, noise_seed):
    """Recovers (eps_w, eps_b) of one noise draw by probing with 0 and the unit vectors."""
    x = np.concatenate([np.zeros((1, P)), np.eye(P)]).astype(layer.dtype)
    y = layer(x, noise_seed=noise_seed).numpy()
    w = _weights(layer)
    eps_b = (y[0] - w["mu_b"]) / w["sigma_b"]
    eps_w = (y[1:] - y[0] - w["mu_w"]) / w["sigma_w"]
    return eps_w, eps_b


def test_factorised_noise_is_the_outer_product_of_f_eps_in_and_f_eps_out():
    layer = _built("factorised", dtype="float64")
    eps_w, eps_b = _probe(layer, tf.constant([3, 4]))
    f_in = eps_w[:, 0] / eps_b[0]
    # Sec. 3(b): eps_w = f(eps_in) f(eps_out)^T and eps_b = f(eps_out).
    np.testing.assert_allclose(eps_w, np.outer(f_in, eps_b), rtol=1e-8, atol=1e-10)
    assert np.linalg.matrix_rank(eps_w, tol=1e-6) == 1


def test_independent_noise_has_full_rank():
    layer = _built("independent", dtype="float64")
    eps_w, _ = _probe(layer, tf.constant([3, 4]))
    assert np.linalg.matrix_rank(eps_w, tol=1e-6) == Q


def test_noise_is_resampled_on_every_call_even_when_not_training():
    layer = _built("factorised")
    x = tf.ones([2, P])
    first, second = layer(x, training=False).numpy(), layer(x, training=False).numpy()
    assert np.all(first != second)
    # One noise sample per call, shared by the batch.
    np.testing.assert_array_equal(first[0], first[1])


def test_noise_seed_gives_reproducible_noise():
    layer = _built("independent")
    x = tf.ones([1, P])
    seed = tf.constant([7, 8])
    np.testing.assert_array_equal(layer(x, noise_seed=seed), layer(x, noise_seed=seed))
    assert np.all(layer(x, noise_seed=seed).numpy() != layer(x, noise_seed=[7, 9]).numpy())


@pytest.mark.parametrize("noise", ["factorised", "independent"])
def test_mean_network_is_deterministic(noise):
    layer = _built(noise, noisy=False)
    x = np.random.default_rng(2).normal(size=(3, P)).astype(np.float32)
    w = _weights(layer)
    expected = x @ w["mu_w"] + w["mu_b"]
    np.testing.assert_array_equal(layer(x), layer(x))
    np.testing.assert_allclose(layer(x), expected, rtol=1e-5, atol=1e-6)
    # The call argument switches a noisy layer to its mean network too.
    layer.noisy = True
    np.testing.assert_allclose(layer(x, noisy=False), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("noise", ["factorised", "independent"])
def test_gradients_reach_mu_and_sigma(noise):
    layer = _built(noise, activation="relu")
    layer.mu_b.assign(tf.fill([Q], 5.0))  # keep the ReLU open
    x = tf.constant(np.random.default_rng(3).normal(size=(4, P)), tf.float32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x) ** 2)
    grads = tape.gradient(loss, layer.trainable_variables)
    assert [v.name.split("/")[-1] for v in layer.trainable_variables] == [
        "mu_w:0",
        "sigma_w:0",
        "mu_b:0",
        "sigma_b:0",
    ]
    for grad in grads:
        assert grad is not None and np.all(np.abs(grad.numpy()) > 0)


def test_sigma_gets_no_gradient_in_the_mean_network():
    layer = _built("factorised", noisy=False)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(tf.ones([1, P])))
    grads = dict(
        zip(
            [v.name for v in layer.trainable_variables],
            tape.gradient(loss, layer.trainable_variables),
        )
    )
    assert all(g is None for name, g in grads.items() if "sigma" in name)


def test_higher_rank_inputs_and_output_shape():
    layer = NoisyDense(Q)
    assert layer(tf.ones([2, 7, P])).shape == (2, 7, Q)
    assert layer.compute_output_shape((None, 7, P)) == (None, 7, Q)


def test_config_round_trip():
    layer = NoisyDense(
        Q,
        activation="tanh",
        noise="independent",
        sigma_0=0.02,
        noisy=False,
        mu_initializer="zeros",
        name="noisy",
    )
    clone = NoisyDense.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert (clone.units, clone.noise, clone.sigma_0, clone.noisy) == (Q, "independent", 0.02, False)
    assert NoisyDense(Q).get_config()["sigma_0"] == 0.5


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(units=0), ValueError, "units: expected a positive int"),
        (dict(units=3, noise="gaussian"), ValueError, "noise: expected one of"),
        (dict(units=3, sigma_0=-1.0), ValueError, "sigma_0: expected a float >= 0"),
    ],
)
def test_bad_arguments_rejected(kwargs, error, match):
    with pytest.raises(error, match=match):
        NoisyDense(**kwargs)


def test_unknown_fan_in_rejected():
    with pytest.raises(ValueError, match="expected a known last input dimension"):
        NoisyDense(Q).build((None, None))


# The shared layer checks; outputs are compared across copies of the layer, so
# through the deterministic paths: the mean network, or noise from a fixed seed.
@pytest.mark.parametrize("noise", ["factorised", "independent"])
@pytest.mark.parametrize(
    "init_kwargs, call_kwargs",
    [
        ({"noisy": False}, None),
        ({"activation": "relu"}, {"noisy": False}),
        ({}, {"noise_seed": [3, 4]}),
    ],
)
def test_layer(noise, init_kwargs, call_kwargs):
    x = np.random.default_rng(0).normal(size=(2, P)).astype(np.float32)
    run_layer_test(
        NoisyDense,
        {"units": Q, "noise": noise, "sigma_0": 0.3, **init_kwargs},
        x,
        expected_output_shape=(2, Q),
        expected_num_trainable_weights=4,
        call_kwargs=call_kwargs,
    )
