"""The queue of `tfgen.layers.usage` finds the word `argmin(last_access)` finds, in O(1)."""

import numpy as np
import pytest
import tensorflow as tf

from tfgen.layers.usage import initial_usage, least_recently_used, record_access


def _reference_run(words, accessed, memory_size):
    """NumPy: the least recently accessed word before each step (first on ties).

    As in SAM, each step touches the least used word (its first access), then `words`.
    """
    batch, steps, _ = words.shape
    last_access = np.zeros([batch, memory_size])
    chosen = np.zeros([batch, steps], np.int64)
    for t in range(steps):
        chosen[:, t] = np.argmin(last_access, axis=-1)  # The first minimum on ties.
        for b in range(batch):
            touched = np.concatenate([chosen[b, t : t + 1], words[b, t]])
            last_access[b, touched[accessed[b, t]]] = t + 1
    return chosen


def _run(words, accessed, memory_size, jit_compile):
    batch, steps, touched = accessed.shape

    def run(words, accessed):
        def body(t, state, chosen):
            state, least_used = least_recently_used(state)
            touched = tf.concat([least_used[:, None], words[:, t]], axis=1)
            state = record_access(state, touched, accessed[:, t], t + 1)
            return t + 1, state, chosen.write(t, least_used)

        state = initial_usage(batch, memory_size, steps * touched)
        chosen = tf.TensorArray(tf.int32, size=steps)
        return tf.transpose(
            tf.while_loop(lambda t, *_: t < steps, body, (0, state, chosen))[2].stack()
        )

    return tf.function(run, jit_compile=jit_compile)(words, accessed).numpy()


@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("memory_size, touched, p_accessed", [(12, 3, 0.7), (40, 5, 0.9)])
def test_queue_equals_argmin(jit_compile, memory_size, touched, p_accessed):
    """Random accesses, repeats and accesses below delta included, over a memory that fills."""
    rng = np.random.default_rng(memory_size)
    batch, steps = 3, 60
    words = rng.integers(0, memory_size, size=[batch, steps, touched]).astype(np.int32)
    accessed = rng.random([batch, steps, touched + 1]) < p_accessed
    expected = _reference_run(words, accessed, memory_size)
    np.testing.assert_array_equal(_run(words, accessed, memory_size, jit_compile), expected)
    assert len(np.unique(expected)) > memory_size // 2  # Many words were least used in turn.


def test_fresh_words_come_first_in_index_order():
    words = np.array([[[0, 2]], [[5, 1]]], np.int32).repeat(4, axis=1)  # [2, 4, 2]
    accessed = np.ones([2, 4, 3], bool)
    accessed[:, :, 0] = False  # The least used word is touched below delta: it stays least used.
    chosen = _run(words, accessed, 6, jit_compile=False)
    np.testing.assert_array_equal(chosen, [[0, 1, 1, 1], [0, 0, 0, 0]])
    accessed[:, :, 0] = True  # Now it is accessed: the next fresh word follows.
    chosen = _run(words, accessed, 6, jit_compile=False)
    np.testing.assert_array_equal(chosen, [[0, 1, 3, 4], [0, 2, 3, 4]])
