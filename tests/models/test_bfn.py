"""Bayesian Flow Network models (2308.07037): units, simplex inputs, sampling, training."""

import json
import math

import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from tests.conformance import goldens
from tfgen import data, noise, registry
from tfgen.distributions import bfn
from tfgen.models.bfn import BFNContinuous, BFNDiscrete, BFNDiscreteText, BFNDiscretised

NAMES = ["bfn_continuous", "bfn_discretised", "bfn_discrete", "bfn_discrete_text"]


def _build(name, **overrides):
    return goldens.build(name, **overrides)


def test_registered_models():
    assert isinstance(registry.build("bfn_discrete"), BFNDiscrete)
    assert isinstance(registry.build("bfn_discrete_text"), BFNDiscreteText)


def _flow_share_outside_bin(name, size=20000):
    """Share of the model's t = 1 flow samples mu ~ p_F(mu | x; 1) outside the data's bin.

    By the paper (Eq. 77): mu ~ N(gamma x, gamma (1 - gamma)), gamma = 1 - sigma_1^2, with x
    each bin centre in turn; the bins are 2 / K wide on [-1, 1].
    """
    model = registry.build(name)
    levels = np.arange(size) % model.num_levels
    x = model._to_data(levels)
    mu = model.flow.flow_sample(x, tf.ones([size]), noise.normal_from_seed([size], [1, 2]))
    return float(np.mean(np.abs(mu - x) > 1.0 / model.num_levels)), model.flow.sigma_1


def _reference_share_outside_bin(sigma_1, num_levels):
    gamma = 1.0 - sigma_1**2
    return 2 * stats.norm.sf((1.0 / num_levels) / math.sqrt(gamma * (1.0 - gamma)))


def test_continuous_sigma_1_is_the_papers_and_resolves_the_bins():
    """256 levels: the paper's sigma_1 = 0.001 (sigma_1^2 = 1e-6); the t = 1 input is in its bin."""
    share, sigma_1 = _flow_share_outside_bin("bfn_continuous")
    assert sigma_1 == pytest.approx(1e-3)
    assert share < 5e-4 and _reference_share_outside_bin(sigma_1, 256) < 1e-4


def test_discretised_sigma_1_is_the_papers_16_bin_setting():
    """16 bins: the paper's sigma_1^2 = 1e-3; the flow at t = 1 puts 5% of inputs off their bin."""
    share, sigma_1 = _flow_share_outside_bin("bfn_discretised")
    assert sigma_1**2 == pytest.approx(1e-3)
    assert share == pytest.approx(_reference_share_outside_bin(sigma_1, 16), abs=0.005)
    assert 0.04 < share < 0.06


def test_discrete_beta_1_by_the_paper_rule():
    """beta(1) puts the input distribution at t = 1, not earlier, near certainty (Sec. 6.8).

    Binarised MNIST takes the paper's sqrt(beta(1)) = 3 for K = 2; text bytes take the rule's
    value for K = 256 (0.2 bits of expected entropy at t = 1, text8's setting for K = 27).
    """
    binary = registry.resolve_hparams("bfn_discrete")
    assert binary["num_levels"] == 2 and binary["beta_1"] == pytest.approx(3.0**2)
    text = registry.resolve_hparams("bfn_discrete_text")
    assert text["num_categories"] == 256
    assert text["beta_1"] == pytest.approx(bfn.discrete_beta_1(256), rel=0.01)
    assert BFNDiscreteText().flow.beta_1 == text["beta_1"]


@pytest.mark.parametrize("name", NAMES)
def test_log_prob_units_and_seeds(name):
    model = _build(name)
    features = model.example_features(3, seed=1)
    for steps in (0, 10):
        log_prob = model.log_prob(features, steps=steps, seed=5).numpy()
        assert log_prob.shape == (3,) and np.all(np.isfinite(log_prob))
        np.testing.assert_allclose(
            model.log_prob(features, steps=steps, seed=5), log_prob, rtol=1e-6
        )
    outputs = model.signatures()["log_prob"](
        **{
            model.feature_key: features[model.feature_key],
            "steps": tf.constant(0),
            "seed": tf.constant(5, tf.int64),
        }
    )
    np.testing.assert_allclose(outputs["log_prob"], model.log_prob(features, 0, 5), rtol=1e-5)
    dims = model.num_dims
    expected = {
        "bits_per_dim": -outputs["log_prob"] / (dims * math.log(2)),
        "bits_per_char": -outputs["log_prob"] / (dims * math.log(2)),
        "nats_per_image": -outputs["log_prob"],
    }[model.unit]
    np.testing.assert_allclose(outputs[model.unit], expected, rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_sample_same_in_every_jit_compile_mode(name):
    model = _build(name)
    for steps in (10, 25):
        graph = model.sample(3, steps=steps, seed=11, jit_compile=False).numpy()
        assert graph.shape == (3, *model.event_shape) and graph.dtype == np.int32
        assert graph.min() >= 0 and graph.max() < model.num_levels
        for mode in (True, "network", None):
            np.testing.assert_array_equal(model.sample(3, steps, seed=11, jit_compile=mode), graph)
    assert not np.array_equal(model.sample(3, 10, seed=1), model.sample(3, 10, seed=2))
    signature = model.signatures(jit_compile="network")["sample"]
    inputs = dict(num_samples=tf.constant(3), steps=tf.constant(10), seed=tf.constant(11, tf.int64))
    expected = model.sample(3, 10, seed=11, jit_compile=False)
    np.testing.assert_array_equal(signature(**inputs)[model.feature_key], expected)
    whole = tf.function(signature.python_function, jit_compile=True)(**inputs)
    np.testing.assert_array_equal(whole[model.feature_key], expected)
    with pytest.raises(ValueError, match="jit_compile"):
        model.sample(3, 10, jit_compile="loop")


def test_sample_100_steps():
    model = _build("bfn_discrete")
    assert model.sample(2, steps=100, seed=0).shape == (2, *model.event_shape)


@pytest.mark.parametrize(
    "model",
    [
        BFNDiscrete(image_shape=(6, 6, 1), num_levels=3, filters=8, num_layers=1),
        BFNDiscreteText(seq_len=8, num_categories=5, model_dim=8, num_layers=1, num_heads=2),
    ],
)
def test_discrete_network_input_on_simplex_and_differentiable(model):
    """The network reads theta on the simplex; its output is differentiable in theta (Sec. 6)."""
    levels = model.example_features(2)[model.feature_key]
    x = model._to_data(levels)
    eps = noise.normal_from_seed(model._flow_noise_shape(x), [1, 2])
    theta = model.flow.flow_sample(x, tf.constant([0.3, 0.8]), eps)
    np.testing.assert_allclose(tf.reduce_sum(theta, -1), 1.0, rtol=1e-5)
    assert float(tf.reduce_min(theta)) >= 0
    model(model.example_features(1))
    # Non-zero output weights, so the gradient reaches theta through the whole network.
    for w in model.network.trainable_weights:
        w.assign(tf.random.stateless_normal(w.shape, [3, 4]) * 0.3)
    with tf.GradientTape() as tape:
        tape.watch(theta)
        out = model._network(theta, tf.constant([0.3, 0.8]))
        target = tf.reduce_sum(out * tf.random.stateless_normal(tf.shape(out), [7, 7]))
    gradient = tape.gradient(target, theta).numpy()
    assert np.all(np.isfinite(gradient)) and np.abs(gradient).max() > 0


def test_text_output_is_read_relative_to_theta():
    """p_O = softmax(ln theta + f(K theta - 1, t)); f starts at 0, so p_O starts at theta."""
    model = _build("bfn_discrete_text")
    x = model._to_data(model.example_features(2)[model.feature_key])
    t = tf.constant([0.3, 0.9])
    theta = model.flow.flow_sample(x, t, noise.normal_from_seed(model._flow_noise_shape(x), [4, 5]))
    np.testing.assert_allclose(tf.nn.softmax(model._network(theta, t)), theta, rtol=1e-4, atol=1e-7)
    for w in model.network.trainable_weights:
        w.assign(tf.random.stateless_normal(w.shape, [3, 4]) * 0.3)
    correction = model._network(theta, t) - tf.math.log(theta)
    scaled = model.num_levels * theta.numpy() - 1.0  # 0 under the uniform prior
    np.testing.assert_allclose(correction, model.network((scaled, t)), rtol=1e-4, atol=1e-4)
    assert float(tf.reduce_max(tf.abs(correction))) > 0.1


def test_get_config_round_trip():
    for model in (
        BFNContinuous(image_shape=(6, 6, 1), num_levels=8, filters=4, num_layers=1),
        BFNDiscretised(image_shape=(6, 6, 1), num_levels=8, filters=4, num_layers=1, loss_steps=5),
    ):
        features = model.example_features(2)
        model(features)
        clone = type(model).from_config(json.loads(json.dumps(model.get_config())))
        clone(features)
        clone.set_weights(model.get_weights())
        assert clone.get_config() == model.get_config()
        np.testing.assert_allclose(
            clone.log_prob(features, 3, 1), model.log_prob(features, 3, 1), rtol=1e-5
        )


def test_bad_inputs_raise():
    model = _build("bfn_discrete")
    with pytest.raises(ValueError, match="expected shape"):
        model.log_prob({"image": tf.zeros([2, 5, 5, 1], tf.int32)})
    with pytest.raises(TypeError, match="integer dtype"):
        model.log_prob({"image": tf.zeros([2, 8, 8, 1], tf.float32)})
    with pytest.raises(ValueError, match="expected an int >= 1"):
        model.sample(2, steps=0)
    with pytest.raises(ValueError, match="sigma_1"):
        BFNContinuous(sigma_1=1.5)


def _test_nats(model, dataset, batches=4, seed=0):
    values = [model.compute_losses(batch)[1][model.unit] for batch in dataset.take(batches)]
    return float(np.mean(np.concatenate(values)))


def test_training_lowers_bound_below_uniform_code():
    """bfn_discrete on binarised 8x8 digits: after 300 steps the bound (L^inf + L^r)
    is below the uniform code of 64 binary pixels, 64 ln 2 = 44.4 nats/image, and the
    training loss (L^inf per pixel) falls below half its initial value."""
    tf.keras.utils.set_random_seed(1)
    model = _build("bfn_discrete", filters=16, num_layers=3)
    train = data.load(
        "digits", "train", batch_size=32, shuffle=True, repeat=True, seed=0, view="binary"
    )
    test = data.load("digits", "test", batch_size=90, view="binary")
    model.compile(tf.keras.optimizers.Adam(3e-3))
    before = model.evaluate(train.take(4), verbose=0, return_dict=True)
    model.fit(train, steps_per_epoch=300, epochs=1, verbose=0)
    after = model.evaluate(train.take(4), verbose=0, return_dict=True)
    assert after["loss"] < 0.5 * before["loss"], (before, after)
    assert _test_nats(model, test) < 64 * math.log(2), (before, after)
