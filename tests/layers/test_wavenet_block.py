"""WaveNetBlock and WaveNetStack (WaveNet Sec. 2.3-2.5) against NumPy, causality, steps."""

import numpy as np
import pytest
import tensorflow as tf
from scipy.special import expit

from tests.test_case import run_layer_test
from tfgen.layers.wavenet_block import WaveNetBlock, WaveNetStack


def test_block_matches_the_gated_unit_equation():
    r, s, g, c = 4, 5, 3, 2
    block = WaveNetBlock(r, s, dilation_rate=2, global_conditioning=True, local_conditioning=True)
    x = tf.random.stateless_normal([2, 9, r], [0, 1])
    h = tf.one_hot([1, 2], g)
    y = tf.random.stateless_normal([2, 9, c], [0, 2])
    residual, skip = (t.numpy() for t in block(x, global_condition=h, local_condition=y))
    # NumPy, from Eq. 2 with both conditioning terms (Sec. 2.5).
    xn, w = x.numpy(), block.dilated_conv.kernel.numpy()
    conv = np.zeros([2, 9, 2 * r]) + block.dilated_conv.bias.numpy()
    for t in range(9):
        conv[:, t] += xn[:, t] @ w[1] + (xn[:, t - 2] @ w[0] if t >= 2 else 0)
    pre = (
        conv
        + (h.numpy() @ block.global_projection.kernel.numpy())[:, None]
        + y.numpy() @ block.local_projection.kernel.numpy()
    )
    z = np.tanh(pre[..., :r]) * expit(pre[..., r:])

    def dense(layer, v):
        return v @ layer.kernel.numpy() + layer.bias.numpy()

    np.testing.assert_allclose(skip, dense(block.skip_projection, z), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        residual, xn + dense(block.residual_projection, z), rtol=1e-4, atol=1e-5
    )


def test_block_conditioning_errors_and_config():
    block = WaveNetBlock(4, 4, 1, global_conditioning=True)
    with pytest.raises(ValueError, match="expected a global_condition tensor, got None"):
        block(tf.zeros([1, 3, 4]))
    with pytest.raises(ValueError, match="expected no local_condition"):
        block(
            tf.zeros([1, 3, 4]),
            global_condition=tf.zeros([1, 2]),
            local_condition=tf.zeros([1, 3, 2]),
        )
    clone = WaveNetBlock.from_config(block.get_config())
    assert clone.get_config() == block.get_config()


def _stack(**kwargs):
    return WaveNetStack(
        3,
        **{
            **dict(num_stacks=2, layers_per_stack=3, residual_channels=6, skip_channels=7),
            **kwargs,
        },
    )


def test_dilations_and_receptive_field():
    stack = WaveNetStack(2)
    assert stack.dilations == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512] * 2
    assert stack.receptive_field == 2048
    assert _stack().receptive_field == 16


def test_causal_with_exact_receptive_field():
    """Output t depends on inputs t - R .. t - 1 exactly (never on inputs >= t)."""
    stack = _stack()
    x = tf.random.stateless_normal([1, 40, 2], [0, 1])
    for t in (0, 5, 30):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = tf.reduce_sum(stack(x)[0, t] * [1.0, -2.0, 0.5])
        support = np.flatnonzero(np.any(tape.gradient(out, x)[0].numpy() != 0, -1))
        assert set(support) == set(range(max(0, t - stack.receptive_field), t))


def test_stack_config_round_trip():
    stack = _stack(global_conditioning=True)
    clone = WaveNetStack.from_config(stack.get_config())
    assert clone.get_config() == stack.get_config()


@pytest.mark.parametrize("residual_output, num_weights", [(True, 8), (False, 6)])
def test_block_layer(residual_output, num_weights):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 7, 4)).astype(np.float32)
    h = np.eye(3, dtype=np.float32)[[0, 2]]
    y = rng.normal(size=(2, 7, 2)).astype(np.float32)
    # Dilated conv 2, V_h and V_y (no bias) 2, skip 1x1 2, residual 1x1 2 (if used).
    run_layer_test(
        WaveNetBlock,
        {
            "residual_channels": 4,
            "skip_channels": 5,
            "dilation_rate": 2,
            "global_conditioning": True,
            "local_conditioning": True,
            "residual_output": residual_output,
        },
        x,
        expected_output_shape=((2, 7, 4), (2, 7, 5)),
        expected_num_trainable_weights=num_weights,
        call_kwargs={"global_condition": h, "local_condition": y},
    )


def test_stack_layer():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 7, 1)).astype(np.float32)
    h = np.eye(3, dtype=np.float32)[[0, 2]]
    y = rng.normal(size=(2, 7, 2)).astype(np.float32)
    # Input conv 2, block 0: 8, block 1 (no residual output): 6, output 1x1s 2 + 2.
    run_layer_test(
        WaveNetStack,
        {
            "output_channels": 3,
            "num_stacks": 1,
            "layers_per_stack": 2,
            "residual_channels": 4,
            "skip_channels": 5,
            "global_conditioning": True,
            "local_conditioning": True,
        },
        x,
        expected_output_shape=(2, 7, 3),
        expected_num_trainable_weights=20,
        call_kwargs={"global_condition": h, "local_condition": y},
    )
