"""DRAW's selective attention (arXiv 1502.04623, Sec. 3.2-3.3) against a NumPy reference.

The reference (`tests/layers/draw_reference.py`) is written from the paper, in its 1-based
coordinates (Eqs. 19-27, 29).
"""

import math

import numpy as np
import pytest
import tensorflow as tf

from tests.layers.draw_reference import reference_filterbank, reference_read, reference_write
from tests.test_case import run_layer_test
from tfgen.layers import AttentionRead, AttentionWrite, attention_window, filterbank

HEIGHT, WIDTH = 7, 10  # B x A, deliberately not square


def _random_params(batch, seed=0):
    """(g~X, g~Y, log sigma^2, log delta~, log gamma) [batch, 5], windows near the image."""
    rng = np.random.default_rng(seed)
    low, high = [-1.0, -1.0, -1.0, -1.0, -0.5], [1.0, 1.0, 1.5, 0.5, 0.5]
    return rng.uniform(low, high, size=(batch, 5))


def _dense(layer, inputs):
    kernel, bias = (w.numpy().astype(np.float64) for w in layer.weights)
    return inputs @ kernel + bias


@pytest.mark.parametrize("n", [1, 2, 5, 12])
def test_filterbank_matches_numpy_reference(n):
    params = _random_params(6, seed=n)
    f_x, f_y, gamma = filterbank(tf.constant(params, tf.float32), n, HEIGHT, WIDTH)
    assert f_x.shape == (6, n, WIDTH) and f_y.shape == (6, n, HEIGHT) and gamma.shape == (6,)
    expected = reference_filterbank(params, n, HEIGHT, WIDTH)
    for actual, wanted in zip((f_x, f_y, gamma), expected):
        np.testing.assert_allclose(actual.numpy(), wanted, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("sigma2", [1.5, 4.0, 9.0])
def test_each_filter_has_the_paper_mean_and_variance(sigma2):
    """Eq. 25 is a Gaussian of variance sigma^2 in a: the discrete mean is mu^i, the variance
    sigma^2. (Squaring the whole term, exp(-((a - mu) / (2 sigma^2))^2), gives 2 sigma^4.)"""
    n, size = 4, 64  # filters far from the edges: the sums over a are those of a whole Gaussian
    params = np.array([[0.0, 0.0, math.log(sigma2), math.log(0.2), 0.0]])
    f_x, f_y, _ = filterbank(tf.constant(params, tf.float32), n, size, size)
    delta = (size - 1) / (n - 1) * 0.2
    mu = (size + 1) / 2 + (np.arange(1, n + 1) - n / 2 - 0.5) * delta  # Eqs. 19, 22, 24
    a = np.arange(1, size + 1)
    for filters in (f_x.numpy()[0], f_y.numpy()[0]):
        np.testing.assert_allclose(filters.sum(axis=1), 1.0, rtol=1e-6)
        mean = filters @ a
        np.testing.assert_allclose(mean, mu, rtol=1e-5)
        variance = np.sum(filters * (a[None] - mean[:, None]) ** 2, axis=1)
        np.testing.assert_allclose(variance, sigma2, rtol=1e-4)


def test_attention_window_coordinates():
    params = _random_params(5, seed=1)
    g_x, g_y, delta, sigma2, gamma = (
        v.numpy() for v in attention_window(tf.constant(params, tf.float32), 3, HEIGHT, WIDTH)
    )
    np.testing.assert_allclose(g_x, (WIDTH + 1) / 2 * (params[:, 0] + 1), rtol=1e-5)
    np.testing.assert_allclose(g_y, (HEIGHT + 1) / 2 * (params[:, 1] + 1), rtol=1e-5)
    np.testing.assert_allclose(delta, (WIDTH - 1) / 2 * np.exp(params[:, 3]), rtol=1e-5)
    np.testing.assert_allclose(sigma2, np.exp(params[:, 2]), rtol=1e-5)
    np.testing.assert_allclose(gamma, np.exp(params[:, 4]), rtol=1e-5)
    # g~ = 0, delta~ = 1: the grid is centred on the image and its outer filters sit on the
    # first and last pixels of the longer side (narrow filters, sigma^2 = 0.01).
    f_x, _, _ = filterbank(tf.constant([[0.0, 0.0, math.log(0.01), 0.0, 0.0]]), 3, HEIGHT, WIDTH)
    np.testing.assert_allclose(
        f_x.numpy()[0] @ np.arange(1, WIDTH + 1), [1.0, 5.5, 10.0], atol=1e-5
    )


def test_read_matches_numpy_reference():
    read = AttentionRead(read_size=3)
    rng = np.random.default_rng(2)
    image = rng.integers(0, 2, size=(4, HEIGHT, WIDTH)).astype(np.float32)
    error_image = rng.uniform(-1, 1, size=(4, HEIGHT, WIDTH)).astype(np.float32)
    state = rng.normal(size=(4, 6)).astype(np.float32)
    glimpse = read((image, error_image, state)).numpy()
    params = _dense(read.window, state.astype(np.float64))
    expected = reference_read(params, 3, image.astype(np.float64), error_image)
    np.testing.assert_allclose(glimpse, expected, rtol=1e-4, atol=1e-5)


def test_write_matches_numpy_reference():
    write = AttentionWrite(write_size=4, height=HEIGHT, width=WIDTH)
    state = 0.3 * np.random.default_rng(3).normal(size=(4, 6)).astype(np.float32)
    canvas = write(state).numpy()
    patch = _dense(write.patch, state.astype(np.float64)).reshape(4, 4, 4)
    params = _dense(write.window, state.astype(np.float64))
    expected = reference_write(params, patch, HEIGHT, WIDTH)
    np.testing.assert_allclose(canvas, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("gamma", [1.0, 2.5])
def test_read_then_write_with_identity_like_parameters_reproduces_the_image(gamma):
    """N = A = B, centred grid, delta~ = 1 (stride one pixel), tiny sigma: F_X = F_Y = I, so
    the read glimpse is gamma x and writing it back with the same window divides gamma out."""
    size = 8
    identity = [0.0, 0.0, math.log(0.01), 0.0, math.log(gamma)]  # Eq. 21
    read, write = AttentionRead(read_size=size), AttentionWrite(size, size, size)
    read.build(((None, size, size), (None, size, size), (None, size * size)))
    write.build((None, size * size))
    for window in (read.window, write.window):
        window.set_weights([np.zeros([size * size, 5]), np.array(identity)])
    write.patch.set_weights([np.eye(size * size), np.zeros(size * size)])  # w_t = h
    image = np.random.default_rng(4).integers(0, 2, size=(3, size, size)).astype(np.float32)
    glimpse = read((image, np.zeros_like(image), np.zeros([3, size * size], np.float32)))
    np.testing.assert_allclose(
        glimpse[:, : size * size].numpy().reshape(image.shape), gamma * image, atol=1e-6
    )
    # Writing from h = the image's glimpse (the patch map is the identity).
    np.testing.assert_allclose(write(glimpse[:, : size * size]).numpy(), image, atol=1e-6)


def test_read_is_differentiable_wrt_the_window_centre():
    """d glimpse / d g~X (the window's bias 0 adds to g~X) is non-zero and matches central
    differences of the NumPy reference."""
    read = AttentionRead(read_size=2)
    rng = np.random.default_rng(5)
    image = rng.uniform(0, 1, size=(2, HEIGHT, WIDTH)).astype(np.float32)
    state = rng.normal(size=(2, 6)).astype(np.float32)
    read((image, image, state))
    weights = rng.normal(size=4).astype(np.float32)
    with tf.GradientTape() as tape:
        target = tf.reduce_sum(read((image, image, state))[:, :4] * weights)
    gradient = tape.gradient(target, read.window.bias).numpy()
    assert abs(gradient[0]) > 1e-3

    def reference(shift):
        params = _dense(read.window, state.astype(np.float64))
        params[:, 0] += shift
        return np.sum(reference_read(params, 2, image, image)[:, :4] * weights)

    eps = 1e-4
    numeric = (reference(eps) - reference(-eps)) / (2 * eps)
    np.testing.assert_allclose(gradient[0], numeric, rtol=1e-3)


def test_errors():
    with pytest.raises(ValueError, match=r"params: expected shape \[batch, 5\]"):
        filterbank(tf.zeros([2, 4]), 3, 5, 5)
    with pytest.raises(TypeError, match="params: expected a float tensor, got int32"):
        filterbank(tf.zeros([2, 5], tf.int32), 3, 5, 5)
    with pytest.raises(ValueError, match="n: expected an int >= 1, got 0"):
        filterbank(tf.zeros([2, 5]), 0, 5, 5)
    with pytest.raises(TypeError, match="height: expected an int"):
        attention_window(tf.zeros([2, 5]), 3, 5.0, 5)
    with pytest.raises(ValueError, match="read_size: expected an int >= 1"):
        AttentionRead(read_size=0)
    with pytest.raises(
        ValueError, match=r"image: expected a float tensor \[batch, height, width\]"
    ):
        AttentionRead()((tf.zeros([2, 5]), tf.zeros([2, 5]), tf.zeros([2, 3])))


def test_read_layer():
    rng = np.random.default_rng(6)
    image = rng.uniform(size=(2, HEIGHT, WIDTH)).astype(np.float32)
    run_layer_test(
        AttentionRead,
        {"read_size": 3},
        (image, image - 0.5, rng.normal(size=(2, 5)).astype(np.float32)),
        expected_output_shape=(2, 18),
        expected_num_trainable_weights=2,
    )


def test_write_layer():
    state = np.random.default_rng(7).normal(size=(2, 5)).astype(np.float32)
    run_layer_test(
        AttentionWrite,
        {"write_size": 3, "height": HEIGHT, "width": WIDTH},
        state,
        expected_output_shape=(2, HEIGHT, WIDTH),
        expected_num_trainable_weights=4,
    )
