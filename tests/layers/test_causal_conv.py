"""CausalConv1D (WaveNet Sec. 2.1, Fast Wavenet queues) and ConditioningUpsampler."""

import numpy as np
import pytest
import tensorflow as tf

from tests.test_case import run_layer_test
from tfgen.layers.causal_conv import CausalConv1D
from tfgen.layers.upsampling import ConditioningUpsampler, upsampling_strides


def _reference(x, kernel, bias, dilation):
    """y_t = b + sum_j W_j x_{t - (k - 1 - j) d}, zeros before time 0 (NumPy)."""
    k = kernel.shape[0]
    y = np.tile(bias, (x.shape[0], x.shape[1], 1)).astype(np.float64)
    for t in range(x.shape[1]):
        for j in range(k):
            s = t - (k - 1 - j) * dilation
            if s >= 0:
                y[:, t] += x[:, s] @ kernel[j]
    return y


@pytest.mark.parametrize("kernel_size,dilation", [(2, 1), (2, 4), (3, 2), (1, 1)])
def test_call_and_step_match_numpy(kernel_size, dilation):
    layer = CausalConv1D(5, kernel_size, dilation)
    x = tf.random.stateless_normal([2, 13, 3], [0, 1])
    layer.build(x.shape)
    layer.bias.assign(tf.random.stateless_normal([5], [2, 3]))
    y = layer(x).numpy()
    expected = _reference(x.numpy(), layer.kernel.numpy(), layer.bias.numpy(), dilation)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    queue = layer.initial_queue(2)
    assert queue.shape == [(kernel_size - 1) * dilation, 2, 3]
    steps = []
    for t in range(13):  # a check of `step`, not a sampler
        out, queue = layer.step(x[:, t], queue, tf.constant(t))
        steps.append(out.numpy())
    np.testing.assert_allclose(np.stack(steps, 1), expected, rtol=1e-5, atol=1e-5)


def test_causal_by_gradient():
    layer = CausalConv1D(4, 2, 8)
    x = tf.random.stateless_normal([1, 40, 2], [0, 1])
    for t in (0, 9, 30):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = tf.reduce_sum(layer(x)[0, t])
        support = np.flatnonzero(np.any(tape.gradient(out, x)[0].numpy() != 0, -1))
        assert set(support) <= {t, t - 8}


def test_config_and_bad_arguments():
    layer = CausalConv1D(4, 3, dilation_rate=2, use_bias=False, name="c")
    clone = CausalConv1D.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config() and clone.queue_length == 4
    with pytest.raises(ValueError, match="dilation_rate: expected an int >= 1, got 0"):
        CausalConv1D(4, 2, 0)
    with pytest.raises(TypeError, match="kernel_size: expected an int"):
        CausalConv1D(4, 2.0)
    with pytest.raises(ValueError, match="expected input shape"):
        CausalConv1D(4, 2)(tf.zeros([2, 3]))


def test_upsampler_shapes_and_strides():
    assert upsampling_strides(256) == [16, 16]
    assert upsampling_strides(200) == [10, 10, 2]
    assert upsampling_strides(17) == [17] and upsampling_strides(1) == [1]
    layer = ConditioningUpsampler(32, 6)
    y = layer(tf.random.stateless_normal([2, 5, 4], [0, 1]))
    assert y.shape == [2, 160, 6]
    assert layer.compute_output_shape([2, 5, 4]) == [2, 160, 6]
    clone = ConditioningUpsampler.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


def test_upsampler_is_local_in_time():
    """Samples of frame i depend on frames near i only (transposed conv, kernel 2 * stride)."""
    layer = ConditioningUpsampler(16, 3)
    x = tf.random.stateless_normal([1, 8, 2], [0, 1])
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = tf.reduce_sum(layer(x)[0, 16 * 4 + 5])
    support = np.flatnonzero(np.any(tape.gradient(out, x)[0].numpy() != 0, -1))
    assert 4 in support and set(support) <= {3, 4, 5}


def test_causal_conv_layer():
    x = np.random.default_rng(0).normal(size=(2, 9, 3)).astype(np.float32)
    run_layer_test(
        CausalConv1D,
        {"filters": 4, "kernel_size": 2, "dilation_rate": 2},
        x,
        expected_output_shape=(2, 9, 4),
        expected_num_trainable_weights=2,
    )


def test_conditioning_upsampler_layer():
    x = np.random.default_rng(0).normal(size=(2, 3, 5)).astype(np.float32)
    # hop_length 32: strides [16, 2], two transposed convolutions.
    run_layer_test(
        ConditioningUpsampler,
        {"hop_length": 32, "filters": 4},
        x,
        expected_output_shape=(2, 96, 4),
        expected_num_trainable_weights=4,
    )
