"""Bayesian Flow Network models (2308.07037): units, simplex inputs, sampling, training."""

import json
import math

import numpy as np
import pytest
import tensorflow as tf

from tests.conformance import goldens
from tfgen import data, noise, registry
from tfgen.models.bfn import BFNContinuous, BFNDiscrete, BFNDiscreteText, BFNDiscretised

NAMES = ["bfn_continuous", "bfn_discretised", "bfn_discrete", "bfn_discrete_text"]


def _build(name, **overrides):
    return goldens.build(name, **overrides)


def test_registered_with_paper_settings():
    assert isinstance(registry.build("bfn_discrete"), BFNDiscrete)
    assert registry.resolve_hparams("bfn_discrete")["num_levels"] == 2
    assert registry.resolve_hparams("bfn_discrete")["beta_1"] == 9.0
    assert registry.resolve_hparams("bfn_discretised")["num_levels"] == 16
    assert registry.resolve_hparams("bfn_continuous")["num_levels"] == 256
    assert registry.resolve_hparams("bfn_continuous")["sigma_1"] == 0.001
    text = registry.resolve_hparams("bfn_discrete_text")
    assert text["num_categories"] == 256 and text["beta_1"] == 0.5625


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
def test_sample_same_with_and_without_xla(name):
    model = _build(name)
    for steps in (10, 25):
        xla = model.sample(3, steps=steps, seed=11).numpy()
        graph = model.sample(3, steps=steps, seed=11, jit_compile=False).numpy()
        np.testing.assert_array_equal(xla, graph)
        assert xla.shape == (3, *model.event_shape) and xla.dtype == np.int32
        assert xla.min() >= 0 and xla.max() < model.num_levels
    assert not np.array_equal(model.sample(3, 10, seed=1), model.sample(3, 10, seed=2))
    signature = model.signatures(jit_compile=True)["sample"]
    inputs = dict(num_samples=tf.constant(3), steps=tf.constant(10), seed=tf.constant(11, tf.int64))
    whole = tf.function(signature.python_function, jit_compile=True)(**inputs)
    np.testing.assert_array_equal(whole[model.feature_key], model.sample(3, 10, seed=11))


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
