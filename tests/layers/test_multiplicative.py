"""Multiplicative units and residual multiplicative blocks (1610.00527 Sec. 4) against NumPy."""

import numpy as np
import pytest
import tensorflow as tf

from tests.test_case import run_layer_test
from tfgen.layers import MultiplicativeUnit, ResidualMultiplicativeBlock, split_groups


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _conv_same(x, kernel, bias, dilation=1):
    """NumPy 'same' convolution [B, H, W, C] * [k, k, C, F] with zero padding and dilation."""
    k = kernel.shape[0]
    pad = dilation * (k // 2)
    padded = np.pad(x, [(0, 0), (pad, pad), (pad, pad), (0, 0)])
    height, width = x.shape[1:3]
    out = np.zeros(x.shape[:3] + (kernel.shape[-1],), np.float64) + bias
    for a in range(k):
        for b in range(k):
            window = padded[
                :, a * dilation : a * dilation + height, b * dilation : b * dilation + width
            ]
            out += window @ kernel[a, b]
    return out


def _mu_reference(h, kernel, bias, dilation=1, context_term=0.0):
    """1610.00527 Eq. 4-8 with W1..W4 side by side in `kernel` [k, k, c, 4c]."""
    pre = _conv_same(h, kernel, bias, dilation) + context_term
    c = h.shape[-1]
    g1, g2, g3 = (_sigmoid(pre[..., i * c : (i + 1) * c]) for i in range(3))
    u = np.tanh(pre[..., 3 * c :])
    return g1 * np.tanh(g2 * h + g3 * u)


def _randomise(layer, seed=0):
    rng = np.random.default_rng(seed)
    for weight in layer.weights:
        weight.assign(rng.normal(scale=0.5, size=weight.shape))


def test_multiplicative_unit_matches_numpy():
    h = np.random.default_rng(1).normal(size=(2, 6, 5, 3)).astype(np.float32)
    context = np.random.default_rng(2).normal(size=(2, 6, 5, 2)).astype(np.float32)
    mu = MultiplicativeUnit(3, kernel_size=3, dilation_rate=2, context=True)
    mu(h, context=context)
    _randomise(mu)
    term = context.astype(np.float64) @ mu.context_conv.kernel.numpy()[0, 0]
    expected = _mu_reference(h, mu.conv.kernel.numpy(), mu.conv.bias.numpy(), 2, term)
    np.testing.assert_allclose(mu(h, context=context).numpy(), expected, rtol=1e-4, atol=1e-5)
    cached = mu.call_cached(h, mu.context_term(context))
    np.testing.assert_allclose(cached.numpy(), expected, rtol=1e-4, atol=1e-5)


def test_residual_block_matches_numpy():
    x = np.random.default_rng(3).normal(size=(2, 7, 6, 8)).astype(np.float32)
    block = ResidualMultiplicativeBlock(8, kernel_size=3, dilation_rate=4)
    block(x)
    _randomise(block)
    # 1610.00527 Sec. 4.2: 1x1 (2c -> c), MU, MU, 1x1 (c -> 2c), plus the input.
    h = x @ block.reduce.kernel.numpy()[0, 0] + block.reduce.bias.numpy()
    for unit in block.units:
        h = _mu_reference(h, unit.conv.kernel.numpy(), unit.conv.bias.numpy(), 4)
    expected = x + h @ block.restore.kernel.numpy()[0, 0] + block.restore.bias.numpy()
    np.testing.assert_allclose(block(x).numpy(), expected, rtol=1e-4, atol=1e-4)


def test_split_groups_keeps_each_part_in_colour_order():
    # Two groups, three parts of four channels: channel o = (group, part, index).
    x = np.arange(12, dtype=np.float32).reshape(1, 12)
    parts = [p.numpy()[0].tolist() for p in split_groups(x, 3, 2)]
    assert parts == [[0, 1, 6, 7], [2, 3, 8, 9], [4, 5, 10, 11]]
    # One group: plain contiguous chunks.
    np.testing.assert_array_equal(np.concatenate([p.numpy() for p in split_groups(x, 3, 1)], -1), x)


def _channel_dependence(layer, x, i, j, channel):
    """Boolean [H, W, C]: which inputs output (i, j, channel) depends on (by gradient)."""
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)[0, i, j, channel]
    return tape.gradient(y, x)[0].numpy() != 0


@pytest.mark.parametrize("block", [False, True])
def test_masked_units_keep_the_colour_chain(block):
    """Masked (mask B) units: output group g at a pixel sees groups <= g there, nothing later."""
    groups, height, width = 3, 5, 6
    if block:
        layer = ResidualMultiplicativeBlock(6, mask_type="B", channel_groups=groups)
    else:
        layer = MultiplicativeUnit(6, mask_type="B", channel_groups=groups)
    x = np.random.default_rng(4).normal(size=(1, height, width, 6)).astype(np.float32)
    layer(x)
    _randomise(layer, 5)
    i, j = 2, 3
    for channel in range(6):
        seen = _channel_dependence(layer, x, i, j, channel)
        group = channel // 2
        later = np.zeros_like(seen)
        later[i + 1 :] = True
        later[i, j + 1 :] = True
        later[i, j, 2 * (group + 1) :] = True
        assert not seen[later].any(), f"channel {channel} sees a later pixel or colour group"
        assert seen[i, j, : 2 * group + 1].all(), f"channel {channel} misses its own groups"
        assert seen[i - 1, j].any() and seen[i, j - 1].any()


def test_mask_a_unit_hides_its_own_group():
    layer = MultiplicativeUnit(3, mask_type="A", channel_groups=3)
    x = np.random.default_rng(6).normal(size=(1, 4, 4, 3)).astype(np.float32)
    layer(x)
    _randomise(layer)
    # The MU multiplies g2 by its input h itself, so h's own channel is seen; the gates see
    # only earlier groups: the first channel sees nothing else at its pixel.
    seen = _channel_dependence(layer, x, 1, 1, 0)
    assert seen[1, 1].tolist() == [True, False, False]
    assert _channel_dependence(layer, x, 1, 1, 2)[1, 1].tolist() == [True, True, True]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"filters": 4, "kernel_size": 3, "dilation_rate": 2},
        {"filters": 6, "mask_type": "B", "channel_groups": 3},
    ],
)
def test_multiplicative_unit_layer(kwargs):
    x = np.random.default_rng(0).normal(size=(2, 5, 6, kwargs["filters"])).astype(np.float32)
    run_layer_test(
        MultiplicativeUnit,
        kwargs,
        x,
        expected_output_shape=(2, 5, 6, kwargs["filters"]),
        expected_num_trainable_weights=2,
    )


def test_multiplicative_unit_layer_with_context():
    x = np.random.default_rng(0).normal(size=(2, 5, 6, 4)).astype(np.float32)
    context = np.random.default_rng(1).normal(size=(2, 5, 6, 3)).astype(np.float32)
    run_layer_test(
        MultiplicativeUnit,
        {"filters": 4, "context": True},
        x,
        call_kwargs={"context": context},
        expected_output_shape=(2, 5, 6, 4),
        expected_num_trainable_weights=3,
    )


@pytest.mark.parametrize(
    "kwargs, weights",
    [
        ({"filters": 8, "dilation_rate": 2}, 8),
        ({"filters": 6, "mask_type": "B", "channel_groups": 3, "context": True}, 10),
    ],
)
def test_residual_block_layer(kwargs, weights):
    x = np.random.default_rng(0).normal(size=(2, 5, 6, kwargs["filters"])).astype(np.float32)
    call_kwargs = {}
    if kwargs.get("context"):
        call_kwargs["context"] = np.random.default_rng(1).normal(size=(2, 5, 6, 2))
        call_kwargs["context"] = call_kwargs["context"].astype(np.float32)
    run_layer_test(
        ResidualMultiplicativeBlock,
        kwargs,
        x,
        call_kwargs=call_kwargs,
        expected_output_shape=(2, 5, 6, kwargs["filters"]),
        expected_num_trainable_weights=weights,
    )


def test_errors():
    with pytest.raises(ValueError, match="dilation_rate: expected 1 for a masked"):
        MultiplicativeUnit(4, mask_type="B", dilation_rate=2)
    with pytest.raises(ValueError, match="mask_type: expected None, 'A' or 'B'"):
        MultiplicativeUnit(4, mask_type="C")
    with pytest.raises(ValueError, match="multiple of 3 \\(1 x channel_groups=3\\), got 4"):
        MultiplicativeUnit(4, mask_type="B", channel_groups=3)
    with pytest.raises(ValueError, match="multiple of 4 \\(2 x channel_groups=2\\), got 6"):
        ResidualMultiplicativeBlock(6, mask_type="B", channel_groups=2)
    with pytest.raises(ValueError, match="expected None or 'B'"):
        ResidualMultiplicativeBlock(4, mask_type="A")
    with pytest.raises(ValueError, match="expected 4 input channels"):
        ResidualMultiplicativeBlock(4)(tf.zeros([1, 3, 3, 5]))
    with pytest.raises(ValueError, match="expected a context map"):
        MultiplicativeUnit(4, context=True)(tf.zeros([1, 3, 3, 4]))
    with pytest.raises(ValueError, match="context=False"):
        MultiplicativeUnit(4)(tf.zeros([1, 3, 3, 4]), context=tf.zeros([1, 3, 3, 1]))
