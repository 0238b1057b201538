"""Gated PixelCNN block (1606.05328 Fig. 2) and the spatial upsampler m(s)."""

import numpy as np
import pytest
import tensorflow as tf

from tests.test_case import run_layer_test
from tfgen.layers.pixelcnn_block import GatedPixelCNNBlock, SpatialUpsampler, pointwise

H, W = 6, 7


def _dependence(fn, x, i, j):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)[0, i, j]
        target = tf.reduce_sum(y * tf.random.stateless_normal(y.shape, [3, 4]))
    return np.any(tape.gradient(target, x)[0].numpy() != 0, axis=-1)


def _raster_later(i, j):
    order = np.arange(H * W).reshape(H, W)
    return order >= i * W + j


@pytest.mark.parametrize("mask_type", ["A", "B"])
@pytest.mark.parametrize("i,j", [(0, 0), (2, 3), (5, 6), (3, 0), (0, 6)])
def test_block_causality(mask_type, i, j):
    block = GatedPixelCNNBlock(4, 3, mask_type=mask_type, residual=False)
    x = tf.random.stateless_normal([1, H, W, 2], [0, 1])
    horizontal = _dependence(lambda t: block((t, t))[1], x, i, j)
    # Never a later pixel; the current pixel only with mask B.
    later = _raster_later(i, j)
    later[i, j] = False
    assert not horizontal[later].any()
    assert horizontal[i, j] == (mask_type == "B")
    # The vertical output sees rows above and the current row, nothing below.
    vertical = _dependence(lambda t: block((t, t))[0], x, i, j)
    assert not vertical[i + 1 :].any() and vertical[i, j]


def test_residual_and_row_steps_match_call():
    block = GatedPixelCNNBlock(
        5, 3, mask_type="B", residual=True, label_conditioning=True, spatial_conditioning=True
    )
    v = tf.random.stateless_normal([2, H, W, 5], [0, 1])
    x_h = tf.random.stateless_normal([2, H, W, 5], [0, 2])
    label = tf.one_hot([1, 3], 4)
    spatial = tf.random.stateless_normal([2, H, W, 3], [0, 3])
    v_out, h_out = block((v, x_h), label=label, spatial=spatial)
    assert v_out.shape == h_out.shape == (2, H, W, 5)
    _, link = block.vertical_step(v, label, spatial)
    for i in range(H):
        row = block.horizontal_step(
            x_h[:, i : i + 1], link[:, i : i + 1], label, spatial[:, i : i + 1]
        )
        np.testing.assert_allclose(row[:, 0].numpy(), h_out[:, i].numpy(), atol=1e-5)


@pytest.mark.parametrize(
    "mask_type,k,conditioning", [("A", 5, "label"), ("B", 3, "label+spatial"), ("B", 5, "none")]
)
def test_cached_rows_and_pixels_match_call(mask_type, k, conditioning):
    """1704.06001: the stacks one row / one pixel at a time, from windows of inputs, give call()."""
    use_label, use_spatial = "label" in conditioning, "spatial" in conditioning
    channels = 2 if mask_type == "A" else 4  # The residual (mask B) needs `filters` channels.
    block = GatedPixelCNNBlock(
        4,
        k,
        mask_type=mask_type,
        residual=mask_type == "B",
        label_conditioning=use_label,
        spatial_conditioning=use_spatial,
    )
    v = tf.random.stateless_normal([2, H, W, channels], [0, 1])
    x_h = tf.random.stateless_normal([2, H, W, channels], [0, 2])
    label = tf.one_hot([1, 3], 4) if use_label else None
    spatial = tf.random.stateless_normal([2, H, W, 3], [0, 3]) if use_spatial else None
    v_out, h_out = block((v, x_h), label=label, spatial=spatial)
    conditions = {
        stack: block.conditioning(label, spatial, stack) for stack in ("vertical", "horizontal")
    }

    def at(stack, i, j=slice(None)):  # The conditioning term at row i (and column j), or 0.
        term = conditions[stack]
        if term is None:
            return 0.0
        return term[:, i, j] if use_spatial else term[:, 0, 0 if isinstance(j, int) else j]

    q = k // 2
    v_padded = tf.pad(v, [[0, 0], [q, 0], [q, q], [0, 0]])
    x_padded = tf.pad(x_h, [[0, 0], [0, 0], [q, 0], [0, 0]])
    link = tf.broadcast_to(block.link.bias, [2, W, 8])  # Row 0: Conv1x1 of the shifted-in zeros.
    for i in range(H):
        for j in range(W):
            current = x_h[:, i, j] if mask_type == "B" else None
            out = block.horizontal_pixel(
                current, x_padded[:, i, j : j + q], link[:, j] + at("horizontal", i, j)
            )
            np.testing.assert_allclose(out, h_out[:, i, j], rtol=1e-4, atol=1e-5)
        v_row, link = block.vertical_row(v_padded[:, i : i + q + 1], at("vertical", i))
        np.testing.assert_allclose(v_row, v_out[:, i], rtol=1e-4, atol=1e-5)


def test_pointwise_matches_numpy():
    conv = tf.keras.layers.Conv2D(3, 1, activation="relu", bias_initializer="ones")
    x = np.random.default_rng(0).normal(size=(2, 4, 5, 2)).astype(np.float32)
    conv(x)
    kernel, bias = conv.kernel.numpy()[0, 0], conv.bias.numpy()
    np.testing.assert_allclose(
        pointwise(conv, x[:, 1]), np.maximum(x[:, 1] @ kernel + bias, 0), atol=1e-6
    )
    with pytest.raises(
        ValueError, match=r"pointwise: expected a built 1x1 Conv2D, got kernel_size \(3, 3\)"
    ):
        wide = tf.keras.layers.Conv2D(3, 3)
        wide(x)
        pointwise(wide, x)


def test_cached_step_errors():
    block = GatedPixelCNNBlock(4, 3, mask_type="A", residual=False)
    with pytest.raises(ValueError, match=r"x_h: expected None \(mask 'A'\), got a tensor"):
        block.horizontal_pixel(tf.zeros([1, 1]), tf.zeros([1, 1, 1]), tf.zeros([1, 8]))
    with pytest.raises(ValueError, match=r"x_h: expected a \[batch, c\] tensor, got None"):
        GatedPixelCNNBlock(4, 3).horizontal_pixel(None, tf.zeros([1, 1, 4]), tf.zeros([1, 8]))
    assert block.conditioning(stack="horizontal") is None


def test_conditioning_changes_both_stacks():
    block = GatedPixelCNNBlock(
        4, 3, mask_type="B", residual=False, label_conditioning=True, spatial_conditioning=True
    )
    x = tf.random.stateless_normal([1, H, W, 2], [0, 1])
    s0 = tf.zeros([1, H, W, 2])
    a = block((x, x), label=tf.one_hot([0], 3), spatial=s0)
    b = block((x, x), label=tf.one_hot([1], 3), spatial=s0)
    assert not np.allclose(a[0], b[0]) and not np.allclose(a[1], b[1])
    c = block((x, x), label=tf.one_hot([0], 3), spatial=tf.ones([1, H, W, 2]))
    assert not np.allclose(a[0], c[0]) and not np.allclose(a[1], c[1])
    # The unconditional block: V^T h and V * s are absent, not merely zero.
    plain = GatedPixelCNNBlock(4, 3, mask_type="B", residual=False)
    plain((x, x))
    assert len(plain.trainable_variables) == len(block.trainable_variables) - 4
    with pytest.raises(ValueError, match="label: expected None"):
        plain((x, x), label=tf.one_hot([0], 3))
    with pytest.raises(ValueError, match="spatial: expected a"):
        block((x, x), label=tf.one_hot([0], 3))


def test_last_block_skips_vertical_output():
    block = GatedPixelCNNBlock(4, 3, label_conditioning=True, vertical_output=False, residual=False)
    x = tf.zeros([1, H, W, 2])
    v_out, h_out = block((x, x), label=tf.one_hot([0], 3))
    assert v_out is None and h_out.shape == (1, H, W, 4)
    assert not any("label_vertical" in v.name for v in block.variables)


def test_block_config_and_errors():
    block = GatedPixelCNNBlock(
        4,
        5,
        mask_type="A",
        residual=False,
        label_conditioning=True,
        vertical_output=False,
        name="b",
    )
    config = block.get_config()
    assert GatedPixelCNNBlock.from_config(config).get_config() == config
    with pytest.raises(ValueError, match="residual: expected False with mask_type 'A'"):
        GatedPixelCNNBlock(4, 3, mask_type="A", residual=True)
    with pytest.raises(ValueError, match="expected 4 input channels, got 2"):
        x = tf.zeros([1, H, W, 2])
        GatedPixelCNNBlock(4, 3)((x, x))
    with pytest.raises(TypeError, match="expected inputs"):
        GatedPixelCNNBlock(4, 3)(tf.zeros([1, H, W, 4]))


@pytest.mark.parametrize(
    "source,target",
    [((7, 7), (28, 28)), ((4, 4), (8, 8)), ((3, 3), (9, 9)), ((2, 4), (8, 8)), ((8, 8), (8, 8))],
)
def test_upsampler_shapes(source, target):
    layer = SpatialUpsampler(target, 6)
    out = layer(tf.zeros([2, *source, 3]))
    assert out.shape == (2, *target, 6)
    assert SpatialUpsampler.from_config(layer.get_config()).get_config() == layer.get_config()


def test_upsampler_rejects_non_divisible():
    with pytest.raises(ValueError, match="expected the image size"):
        SpatialUpsampler((28, 28), 4)(tf.zeros([1, 5, 5, 1]))


def test_block_layer():
    rng = np.random.default_rng(0)
    v, x_h = (rng.normal(size=(2, 4, 5, 3)).astype(np.float32) for _ in range(2))
    label = np.eye(3, dtype=np.float32)[[0, 2]]
    spatial = rng.normal(size=(2, 4, 5, 2)).astype(np.float32)
    # Stacks 2 + 2 weights, link 2, 1x1 out 2; V^T h and V * s per stack (no bias): 4.
    run_layer_test(
        GatedPixelCNNBlock,
        {"filters": 3, "kernel_size": 3, "label_conditioning": True, "spatial_conditioning": True},
        (v, x_h),
        expected_output_shape=((2, 4, 5, 3), (2, 4, 5, 3)),
        expected_num_trainable_weights=12,
        call_kwargs={"label": label, "spatial": spatial},
    )


def test_first_and_last_block_layers():
    x = np.random.default_rng(0).normal(size=(2, 4, 5, 1)).astype(np.float32)
    run_layer_test(
        GatedPixelCNNBlock,
        {"filters": 3, "kernel_size": 3, "mask_type": "A", "residual": False},
        (x, x),
        expected_output_shape=((2, 4, 5, 3), (2, 4, 5, 3)),
        expected_num_trainable_weights=8,
    )
    label = np.eye(3, dtype=np.float32)[[0, 2]]
    # The last block: no vertical output (None), no vertical V^T h.
    run_layer_test(
        GatedPixelCNNBlock,
        {
            "filters": 3,
            "kernel_size": 3,
            "residual": False,
            "label_conditioning": True,
            "vertical_output": False,
        },
        (x, x),
        expected_output_shape=(None, (2, 4, 5, 3)),
        expected_num_trainable_weights=9,
        call_kwargs={"label": label},
    )


def test_upsampler_layer():
    x = np.random.default_rng(0).normal(size=(2, 2, 3, 3)).astype(np.float32)
    # (2, 3) -> (8, 12): strides (2, 2), (2, 2), two transposed convolutions.
    run_layer_test(
        SpatialUpsampler,
        {"target_size": (8, 12), "filters": 4},
        x,
        expected_output_shape=(2, 8, 12, 4),
        expected_num_trainable_weights=4,
    )
