"""ByteNetBlock and ByteNetStack (arXiv 1610.10099 Fig. 3) against NumPy, causality, steps."""

import numpy as np
import pytest
import tensorflow as tf
from scipy.special import expit

from tests.test_case import run_layer_test
from tfgen.layers.bytenet_block import ByteNetBlock, ByteNetStack

D = 3  # hidden units d: the blocks carry 2d = 6 channels
VARIANTS = [(causal, mu) for causal in (True, False) for mu in (False, True)]
VARIANT_IDS = [f"{'causal' if c else 'centred'}-{'mu' if m else 'relu'}" for c, m in VARIANTS]


def _randomize(layer, seed=0):
    """Random weights everywhere (layer norm gains and biases too)."""
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(scale=0.5, size=w.shape) for w in layer.get_weights()])


def _layer_norm(v, gamma, beta, epsilon=1e-3):
    mean, var = v.mean(-1, keepdims=True), v.var(-1, keepdims=True)
    return (v - mean) / np.sqrt(var + epsilon) * gamma + beta


def _conv(v, kernel, bias, rate, causal):
    """Dilated 1xk convolution, zeros outside: causal taps t - (k-1-j) r, else centred (odd k)."""
    k, steps = kernel.shape[0], v.shape[1]
    out = np.zeros(v.shape[:2] + kernel.shape[-1:]) + bias
    for t in range(steps):
        for j in range(k):
            s = t - (k - 1 - j) * rate if causal else t + (j - (k - 1) // 2) * rate
            if 0 <= s < steps:
                out[:, t] += v[:, s] @ kernel[j]
    return out


def _reference_block(x, weights, rate, causal, multiplicative):
    """1610.10099 Fig. 3 (left: ReLU; right: MU of 1610.00527 Eq. 4-8), from the paper."""
    g_in, b_in, w_reduce, b_reduce, g_mid, b_mid, kernel, bias, g_out, b_out, w_exp, b_exp = weights
    relu = lambda v: np.maximum(v, 0)  # noqa: E731
    h = _layer_norm(relu(_layer_norm(x, g_in, b_in)) @ w_reduce + b_reduce, g_mid, b_mid)
    if multiplicative:
        conv = _conv(h, kernel, bias, rate, causal)
        g1, g2, g3, u = (conv[..., i * D : (i + 1) * D] for i in range(4))
        middle = expit(g1) * np.tanh(expit(g2) * h + expit(g3) * np.tanh(u))
    else:
        middle = _conv(relu(h), kernel, bias, rate, causal)
    return x + relu(_layer_norm(middle, g_out, b_out)) @ w_exp + b_exp


@pytest.mark.parametrize("causal, multiplicative", VARIANTS, ids=VARIANT_IDS)
def test_block_matches_numpy_reference(causal, multiplicative):
    block = ByteNetBlock(D, 3, 2, causal=causal, multiplicative=multiplicative)
    x = tf.random.stateless_normal([2, 11, 2 * D], [0, 1])
    block(x)
    _randomize(block)
    weights = [
        w.numpy()
        for layer in (
            block.input_norm,
            block.reduce,
            block.middle_norm,
            block.dilated_conv,
            block.output_norm,
            block.expand,
        )
        for w in layer.weights
    ]
    expected = _reference_block(x.numpy(), weights, 2, causal, multiplicative)
    np.testing.assert_allclose(block(x).numpy(), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("causal, multiplicative", VARIANTS, ids=VARIANT_IDS)
def test_block_layer(causal, multiplicative):
    x = np.random.default_rng(0).normal(size=(2, 9, 2 * D)).astype(np.float32)
    # Three layer norms (2 each), two 1x1 convolutions and the dilated one (2 each).
    run_layer_test(
        ByteNetBlock,
        {
            "hidden_units": D,
            "kernel_size": 3,
            "dilation_rate": 2,
            "causal": causal,
            "multiplicative": multiplicative,
        },
        x,
        expected_output_shape=(2, 9, 2 * D),
        expected_num_trainable_weights=12,
    )


def test_stack_layer():
    x = np.random.default_rng(1).normal(size=(2, 10, 2 * D)).astype(np.float32)
    mask = np.arange(10)[None] < np.array([[7], [10]])
    run_layer_test(
        ByteNetStack,
        {
            "hidden_units": D,
            "kernel_size": 2,
            "dilation_rates": [1, 2],
            "num_sets": 2,
            "causal": False,
            "multiplicative": True,
        },
        x,
        expected_output_shape=(2, 10, 2 * D),
        expected_num_trainable_weights=4 * 12,
        call_kwargs={"sequence_mask": mask.astype(np.float32)},
    )


@pytest.mark.parametrize("multiplicative", [False, True])
def test_step_matches_call(multiplicative):
    stack = ByteNetStack(D, 3, (1, 2, 4), 2, causal=True, multiplicative=multiplicative)
    x = tf.random.stateless_normal([2, 20, 2 * D], [0, 2])
    stack(x)
    _randomize(stack, seed=3)
    expected = stack(x).numpy()
    queues, outputs = stack.initial_queues(2), []
    for t in range(20):  # checks `step`; the models' generation loops are tf.while_loops
        output, queues = stack.step(x[:, t], queues, tf.constant(t))
        outputs.append(output.numpy())
    np.testing.assert_allclose(np.stack(outputs, 1), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("causal", [True, False])
def test_support_is_the_receptive_field(causal):
    """Causal: output t sees inputs t - R + 1 .. t; centred: t - (R-1)/2 .. t + (R-1)/2."""
    stack = ByteNetStack(D, 3, (1, 2), 2, causal=causal, multiplicative=True)
    assert stack.receptive_field == 13
    x = tf.random.stateless_normal([1, 40, 2 * D], [0, 4])
    for t in (0, 6, 20, 39):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = tf.reduce_sum(stack(x)[0, t] * tf.range(1.0, 2 * D + 1))
        support = set(np.flatnonzero(np.any(tape.gradient(out, x)[0].numpy() != 0, -1)))
        low, high = (t - 12, t) if causal else (t - 6, t + 6)
        assert support == set(range(max(low, 0), min(high, 39) + 1))


def test_sequence_mask_makes_outputs_independent_of_padding():
    stack = ByteNetStack(D, 3, (1, 2, 4), 1, causal=False)
    x = tf.random.stateless_normal([1, 9, 2 * D], [0, 5])
    padded = tf.concat([x, tf.random.stateless_normal([1, 7, 2 * D], [0, 6])], axis=1)
    short = stack(x)
    masked = stack(padded, sequence_mask=tf.sequence_mask([9], 16))
    np.testing.assert_allclose(masked[:, :9], short, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(masked[:, 9:], 0.0)


def test_argument_errors_and_config():
    with pytest.raises(ValueError, match=r"expected inputs \[batch, time, 6\]"):
        ByteNetBlock(D)(tf.zeros([1, 4, 5]))
    with pytest.raises(ValueError, match="expected a causal block, got causal=False"):
        ByteNetBlock(D, causal=False).initial_queue(1)
    with pytest.raises(ValueError, match="dilation_rates: expected a non-empty sequence"):
        ByteNetStack(D, dilation_rates=())
    with pytest.raises(TypeError, match="kernel_size: expected an int"):
        ByteNetBlock(D, kernel_size=2.5)
    stack = ByteNetStack(D, dilation_rates=(1, 2), num_sets=3)
    assert stack.dilations == [1, 2, 1, 2, 1, 2]
    assert ByteNetStack.from_config(stack.get_config()).get_config() == stack.get_config()
