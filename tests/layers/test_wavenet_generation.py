"""WaveNetGenerator (Fast Wavenet, arXiv 1611.09482): steps equal the stack's call, in place."""

import numpy as np
import pytest
import tensorflow as tf

from tests.layers.xla_copies import copies_of
from tfgen.layers.wavenet_block import WaveNetStack
from tfgen.layers.wavenet_generation import WaveNetGenerator

BATCH, STEPS, SPEAKERS, MELS = 2, 20, 4, 5


def _stack(filter_width=2, channels=2, **kwargs):
    stack = WaveNetStack(
        3,
        num_stacks=2,
        layers_per_stack=3,
        residual_channels=6,
        skip_channels=7,
        filter_width=filter_width,
        global_conditioning=True,
        local_conditioning=True,
        **kwargs,
    )
    stack(tf.zeros([BATCH, 1, channels]), tf.zeros([BATCH, SPEAKERS]), tf.zeros([BATCH, 1, MELS]))
    return stack


def _conditions():
    h = tf.one_hot([0, 3], SPEAKERS)
    y = tf.random.stateless_normal([BATCH, STEPS, MELS], [0, 3])
    return h, y


def _loop(generator, inputs, y, first):
    """The outputs [B, T, out] of `step` at every time, fed the input of the step before."""
    state, previous, outputs = generator.initial_state(BATCH), first, []
    for t in range(STEPS):  # checks `step`; generation loops are tf.while_loops in the model
        output, state = generator.step(previous, state, tf.constant(t), y[:, t])
        outputs.append(output)
        previous = inputs[:, t]
    return tf.stack(outputs, axis=1).numpy()


@pytest.mark.parametrize("filter_width", [1, 2, 3])
def test_steps_equal_the_stack_call(filter_width):
    stack = _stack(filter_width)
    h, y = _conditions()
    x = tf.random.stateless_normal([BATCH, STEPS, 2], [0, 1])
    expected = stack(x, global_condition=h, local_condition=y).numpy()
    outputs = _loop(WaveNetGenerator(stack, h), x, y, tf.zeros([BATCH, 2]))
    np.testing.assert_allclose(outputs, expected, rtol=1e-4, atol=1e-5)


def test_int_codes_stand_for_one_hot_inputs():
    """Codes gather kernel rows; -1 is the zero input before time 0."""
    stack = _stack(channels=5)
    h, y = _conditions()
    codes = tf.random.stateless_uniform([BATCH, STEPS], [0, 2], 0, 5, tf.int32)
    one_hot = tf.one_hot(codes, 5)
    expected = stack(one_hot, global_condition=h, local_condition=y).numpy()
    outputs = _loop(WaveNetGenerator(stack, h), codes, y, tf.fill([BATCH], -1))
    np.testing.assert_allclose(outputs, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_while_loop_equals_the_stack_call(jit_compile):
    stack = _stack()
    h, y = _conditions()
    x = tf.random.stateless_normal([BATCH, STEPS, 2], [0, 1])

    @tf.function(jit_compile=jit_compile, autograph=False)
    def run(x, h, y):
        generator = WaveNetGenerator(stack, h)

        def body(t, previous, state, outputs):
            output, state = generator.step(previous, state, t, y[:, t])
            return t + 1, x[:, t], state, outputs.write(t, output)

        outputs = tf.TensorArray(tf.float32, size=STEPS)
        start = (0, tf.zeros([BATCH, 2]), generator.initial_state(BATCH), outputs)
        outputs = tf.while_loop(lambda t, *_: t < STEPS, body, start)[3]
        return tf.transpose(outputs.stack(), [1, 0, 2])

    expected = stack(x, global_condition=h, local_condition=y).numpy()
    np.testing.assert_allclose(run(x, h, y).numpy(), expected, rtol=1e-4, atol=1e-5)


def test_bfloat16_steps_are_close_to_the_float32_call():
    stack = _stack()
    h, y = _conditions()
    x = tf.random.stateless_normal([BATCH, STEPS, 2], [0, 1])
    expected = stack(x, global_condition=h, local_condition=y).numpy()
    generator = WaveNetGenerator(stack, h, compute_dtype="bfloat16")
    assert generator.compute_dtype == tf.bfloat16
    outputs = _loop(generator, x, y, tf.zeros([BATCH, 2]))
    assert outputs.dtype == np.float32
    # bfloat16 keeps 8 significant bits: errors of a few 2^-8 of the outputs' scale.
    scale = np.abs(expected).max()
    np.testing.assert_allclose(outputs, expected, atol=0.02 * scale)
    assert not np.array_equal(outputs, expected)


def test_compiled_loop_updates_the_queues_in_place():
    """XLA keeps each dilation's queue [(k - 1) d, layers, B, R] in one buffer, never copied."""
    stack = WaveNetStack(3, num_stacks=2, layers_per_stack=6, residual_channels=4, skip_channels=5)
    stack(tf.zeros([3, 1, 2]))

    @tf.function(jit_compile=True)
    def run(x):
        generator = WaveNetGenerator(stack)

        def body(t, previous, state, total):
            output, state = generator.step(previous, state, t)
            return t + 1, x[:, t], state, total + output

        start = (0, tf.zeros([3, 2]), generator.initial_state(3), tf.zeros([3, 3]))
        return tf.while_loop(lambda t, *_: t < 10, body, start)[3]

    queues = [(d, 2, 3, 4) for d in (1, 2, 4, 8, 16, 32)]
    assert not copies_of(run, [tf.zeros([3, 10, 2])], queues)


def test_queues_and_bad_arguments():
    stack = _stack(filter_width=3)
    h, y = _conditions()
    generator = WaveNetGenerator(stack, h)
    assert generator.queue_dilations == [1, 2, 4]
    assert generator.queue_layers == [[0, 3], [1, 4], [2, 5]]
    assert [generator.queue_length(d) for d in (1, 2, 4)] == [2, 4, 8]
    with pytest.raises(ValueError, match="expected a built WaveNetStack"):
        WaveNetGenerator(WaveNetStack(3, num_stacks=1, layers_per_stack=2))
    with pytest.raises(ValueError, match="expected a global_condition tensor, got None"):
        WaveNetGenerator(stack)
    with pytest.raises(ValueError, match="compute_dtype: expected one of"):
        WaveNetGenerator(stack, h, compute_dtype="float16")
    state = generator.initial_state(BATCH)
    with pytest.raises(ValueError, match="expected a local_condition tensor, got None"):
        generator.step(tf.zeros([BATCH, 2]), state, 0)
