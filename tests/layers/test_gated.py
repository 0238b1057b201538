"""Gated activation unit (1606.05328 Eq. 2) against a NumPy reference."""

import numpy as np
import pytest
import tensorflow as tf

from tests.test_case import run_layer_test
from tfgen.layers import GatedActivation


def test_matches_numpy_reference():
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 6)).astype(np.float32)
    f, g = x[..., :3], x[..., 3:]
    expected = np.tanh(f) / (1.0 + np.exp(-g))
    np.testing.assert_allclose(GatedActivation()(x).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_output_shape_and_config():
    layer = GatedActivation(name="g")
    assert layer.compute_output_shape((None, 5, 5, 8)) == (None, 5, 5, 4)
    assert GatedActivation.from_config(layer.get_config()).name == "g"


def test_odd_channels_rejected():
    with pytest.raises(ValueError, match="expected an even number of channels"):
        GatedActivation()(tf.zeros([1, 2, 2, 3]))


def test_layer():
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 6)).astype(np.float32)
    expected = np.tanh(x[..., :3]) / (1.0 + np.exp(-x[..., 3:]))
    run_layer_test(
        GatedActivation,
        {},
        x,
        expected_output_shape=(2, 3, 4, 3),
        expected_num_trainable_weights=0,
        expected_output_data=expected,
        run_training_check=False,
    )  # no weights to train
