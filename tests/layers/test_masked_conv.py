"""Receptive fields of the causal convolutions in tfgen.layers.masked_conv."""

import numpy as np
import pytest
import tensorflow as tf

from tests.test_case import run_layer_test
from tfgen.layers import (
    HorizontalStackConv2D,
    MaskedConv2D,
    ShiftDown,
    VerticalStackConv2D,
    causal_kernel_mask,
    shift_down,
)

H, W = 7, 8


def _dependence(layer, i, j, channels=1):
    """Boolean [H, W]: which input pixels output (i, j) depends on (by gradient)."""
    x = tf.random.stateless_normal([1, H, W, channels], [1, 2])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)[0, i, j]
        target = tf.reduce_sum(y * tf.random.stateless_normal(y.shape, [3, 4]))
    return np.any(tape.gradient(target, x)[0].numpy() != 0, axis=-1)


def _expected(i, j, rows, cols):
    mask = np.zeros((H, W), bool)
    for r in rows:
        for c in cols:
            if 0 <= r < H and 0 <= c < W:
                mask[r, c] = True
    return mask


@pytest.mark.parametrize("mask_type", ["A", "B"])
@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("i,j", [(0, 0), (3, 4), (6, 7), (4, 0), (0, 7)])
def test_masked_conv2d_receptive_field(mask_type, k, i, j):
    layer = MaskedConv2D(4, k, mask_type=mask_type)
    expected = _expected(i, j, range(i - k // 2, i), range(j - k // 2, j + k // 2 + 1))
    expected |= _expected(i, j, [i], range(j - k // 2, j + (mask_type == "B")))
    np.testing.assert_array_equal(_dependence(layer, i, j, channels=2), expected)


@pytest.mark.parametrize("mask_type", ["A", "B"])
@pytest.mark.parametrize("k", [1, 3])
def test_masked_conv2d_colour_groups(mask_type, k):
    """PixelRNN Sec. 3.4: output colour g sees earlier pixels fully, colours < g (A) / <= g (B)."""
    i, j = 3, 4
    layer = MaskedConv2D(6, k, mask_type=mask_type, channel_groups=3)
    x = tf.random.stateless_normal([1, H, W, 3], [1, 2])
    layer(x)
    for channel in range(6):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)[0, i, j, channel]
        seen = tape.gradient(y, x)[0].numpy() != 0
        colours = channel // 2 + (mask_type == "B")
        expected = np.zeros_like(seen)
        expected[_expected(i, j, range(i - k // 2, i), range(j - k // 2, j + k // 2 + 1))] = True
        expected[_expected(i, j, [i], range(j - k // 2, j))] = True
        expected[i, j, :colours] = True
        np.testing.assert_array_equal(seen, expected, err_msg=f"output channel {channel}")


def test_causal_kernel_mask_with_one_group_is_the_plain_mask():
    np.testing.assert_array_equal(
        causal_kernel_mask(3, 4, 5, "A")[:, :, 0, 0], [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    )
    np.testing.assert_array_equal(causal_kernel_mask(1, 4, 5, "B"), [[[[1]]]])


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("i,j", [(0, 0), (3, 4), (6, 7), (2, 1)])
def test_vertical_stack_sees_rows_above_and_current(k, i, j):
    layer = VerticalStackConv2D(3, k)
    expected = _expected(i, j, range(i - k // 2, i + 1), range(j - k // 2, j + k // 2 + 1))
    np.testing.assert_array_equal(_dependence(layer, i, j), expected)
    # After the down shift, only rows strictly above.
    shifted = _dependence(lambda x: shift_down(layer(x)), i, j)
    np.testing.assert_array_equal(
        shifted, _expected(i, j, range(i - 1 - k // 2, i), range(j - k // 2, j + k // 2 + 1))
    )


@pytest.mark.parametrize("mask_type", ["A", "B"])
@pytest.mark.parametrize("k", [3, 5, 7])
@pytest.mark.parametrize("i,j", [(0, 0), (3, 4), (6, 7), (2, 1)])
def test_horizontal_stack_sees_current_row_to_the_left(mask_type, k, i, j):
    layer = HorizontalStackConv2D(3, k, mask_type=mask_type)
    expected = _expected(i, j, [i], range(j - k // 2, j + (mask_type == "B")))
    np.testing.assert_array_equal(_dependence(layer, i, j), expected)


def test_output_shapes():
    x = tf.zeros([2, H, W, 3])
    for layer in (
        MaskedConv2D(5, 3, "A"),
        VerticalStackConv2D(5, 5),
        HorizontalStackConv2D(5, 5, "A"),
        HorizontalStackConv2D(5, 3, "B"),
    ):
        assert layer(x).shape == (2, H, W, 5)
    assert HorizontalStackConv2D(5, 3, "A")(x[:, :1]).shape == (2, 1, W, 5)


def test_shift_down_numpy():
    x = np.arange(2 * 3 * 4 * 1, dtype=np.float32).reshape(2, 3, 4, 1)
    expected = np.concatenate([np.zeros_like(x[:, :1]), x[:, :-1]], axis=1)
    np.testing.assert_array_equal(shift_down(x).numpy(), expected)
    np.testing.assert_array_equal(ShiftDown()(x).numpy(), expected)


def test_get_config_round_trip():
    for layer in (
        MaskedConv2D(4, 5, "A", use_bias=False),
        VerticalStackConv2D(4, 3),
        HorizontalStackConv2D(4, 5, "B"),
        ShiftDown(2),
    ):
        config = layer.get_config()
        clone = type(layer).from_config(config)
        assert clone.get_config() == config


def test_errors():
    with pytest.raises(ValueError, match="expected an odd int"):
        MaskedConv2D(4, 4)
    with pytest.raises(TypeError, match="expected an odd int"):
        VerticalStackConv2D(4, 3.0)
    with pytest.raises(ValueError, match="mask_type: expected one of"):
        HorizontalStackConv2D(4, 3, mask_type="C")
    with pytest.raises(ValueError, match="expected an odd int >= 3"):
        HorizontalStackConv2D(4, 1, mask_type="A")
    with pytest.raises(ValueError, match="expected a positive int"):
        VerticalStackConv2D(0, 3)
    with pytest.raises(ValueError, match="rank-4"):
        HorizontalStackConv2D(4, 3)(tf.zeros([2, 3, 4]))
    with pytest.raises(ValueError, match="filters: expected a multiple of channel_groups=3"):
        MaskedConv2D(4, 3, channel_groups=3)
    with pytest.raises(ValueError, match="input channels a multiple of channel_groups=2"):
        MaskedConv2D(4, 3, channel_groups=2)(tf.zeros([1, 3, 3, 3]))


def test_shift_down_layer():
    x = np.arange(2 * 4 * 3 * 2, dtype=np.float32).reshape(2, 4, 3, 2)
    expected = np.concatenate([np.zeros_like(x[:, :2]), x[:, :2]], axis=1)
    run_layer_test(
        ShiftDown,
        {"rows": 2},
        x,
        expected_output_shape=(2, 4, 3, 2),
        expected_num_trainable_weights=0,
        expected_output_data=expected,
        run_training_check=False,
    )  # no weights to train


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_masked_conv_layer(mask_type):
    x = np.random.default_rng(0).normal(size=(2, 5, 6, 3)).astype(np.float32)
    run_layer_test(
        MaskedConv2D,
        {"filters": 3, "kernel_size": 3, "mask_type": mask_type, "channel_groups": 3},
        x,
        expected_output_shape=(2, 5, 6, 3),
        expected_num_trainable_weights=2,
    )


def test_vertical_stack_layer():
    x = np.random.default_rng(0).normal(size=(2, 5, 6, 2)).astype(np.float32)
    run_layer_test(
        VerticalStackConv2D,
        {"filters": 3, "kernel_size": 3, "use_bias": False},
        x,
        expected_output_shape=(2, 5, 6, 3),
        expected_num_trainable_weights=1,
    )


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_horizontal_stack_layer(mask_type):
    x = np.random.default_rng(0).normal(size=(2, 5, 6, 2)).astype(np.float32)
    run_layer_test(
        HorizontalStackConv2D,
        {"filters": 3, "kernel_size": 5, "mask_type": mask_type, "kernel_initializer": "he_normal"},
        x,
        expected_output_shape=(2, 5, 6, 3),
        expected_num_trainable_weights=2,
    )


# Cached sampling (1704.06001): one row / one pixel as a matrix product -----------
def _numpy_vertical(x, kernel, bias):
    """1606.05328 Fig. 2: out (i, j) = b + sum over rows i - q .. i, columns j - q .. j + q."""
    batch, height, width, _ = x.shape
    rows, k = kernel.shape[:2]
    q = k // 2
    out = np.zeros((batch, height, width, kernel.shape[-1]))
    for i in range(height):
        for j in range(width):
            for dy in range(rows):
                for dx in range(k):
                    r, c = i - q + dy, j - q + dx
                    if 0 <= r < height and 0 <= c < width:
                        out[:, i, j] += x[:, r, c] @ kernel[dy, dx]
    return out + bias


def _numpy_horizontal(x, kernel, bias, mask_type):
    """Out (i, j) = b + sum over (i, j - q .. j) (mask B) or (i, j - q .. j - 1) (mask A)."""
    batch, height, width, _ = x.shape
    taps = kernel.shape[1]
    first = -taps if mask_type == "A" else 1 - taps
    out = np.zeros((batch, height, width, kernel.shape[-1]))
    for j in range(width):
        for t in range(taps):
            if 0 <= j + first + t < width:
                out[:, :, j] += x[:, :, j + first + t] @ kernel[0, t]
    return out + bias


def _with_bias(layer, x):
    """Builds `layer` on `x`, gives it a non-zero bias; returns its kernel and bias."""
    layer(x)
    layer.conv.bias.assign(np.linspace(-1.0, 1.0, layer.filters, dtype=np.float32))
    return layer.conv.kernel.numpy(), layer.conv.bias.numpy()


@pytest.mark.parametrize("k", [1, 3, 5])
def test_vertical_stack_and_its_rows_match_numpy(k):
    x = np.random.default_rng(k).normal(size=(2, H, W, 3)).astype(np.float32)
    layer = VerticalStackConv2D(4, k)
    expected = _numpy_vertical(x, *_with_bias(layer, x))
    np.testing.assert_allclose(layer(x), expected, rtol=1e-4, atol=1e-5)
    q = k // 2
    padded = np.pad(x, [(0, 0), (q, 0), (q, q), (0, 0)])
    for i in range(H):
        row = layer.row(padded[:, i : i + q + 1])
        assert row.shape == (2, W, 4)
        np.testing.assert_allclose(row, expected[:, i], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mask_type,k", [("A", 3), ("A", 7), ("B", 1), ("B", 5)])
def test_horizontal_stack_and_its_pixels_match_numpy(mask_type, k):
    x = np.random.default_rng(k).normal(size=(2, 3, W, 3)).astype(np.float32)
    layer = HorizontalStackConv2D(4, k, mask_type=mask_type)
    expected = _numpy_horizontal(x, *_with_bias(layer, x), mask_type)
    np.testing.assert_allclose(layer(x), expected, rtol=1e-4, atol=1e-5)
    q = k // 2
    assert layer.taps == q + (mask_type == "B")
    padded = np.pad(x, [(0, 0), (0, 0), (q, 0), (0, 0)])
    for i in range(3):
        for j in range(W):
            pixel = layer.pixel(padded[:, i, j : j + layer.taps])
            np.testing.assert_allclose(pixel, expected[:, i, j], rtol=1e-4, atol=1e-5)


def test_row_and_pixel_errors():
    vertical, horizontal = (
        VerticalStackConv2D(4, 3, name="v"),
        HorizontalStackConv2D(4, 3, name="h"),
    )
    with pytest.raises(ValueError, match=r"v.row: expected a built layer"):
        vertical.row(tf.zeros([1, 2, 6, 1]))
    with pytest.raises(ValueError, match=r"h.pixel: expected a built layer"):
        horizontal.pixel(tf.zeros([1, 2, 1]))
    vertical(tf.zeros([1, 4, 4, 1]))
    horizontal(tf.zeros([1, 4, 4, 1]))
    with pytest.raises(
        ValueError, match=r"v.row: expected a window of shape \[\?, 2, \?, 1\], got"
    ):
        vertical.row(tf.zeros([1, 3, 6, 1]))
    with pytest.raises(ValueError, match=r"h.pixel: expected a window of shape \[\?, 2, 1\], got"):
        horizontal.pixel(tf.zeros([1, 2, 3]))
