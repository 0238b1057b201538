"""SparseMemory (SAM, arXiv 1610.09027): exact sparse gradients, O(T K W) saved, O(K) steps.

The forward pass is checked against the NumPy reference in `test_memory.py`;
here: the sparse backward pass of Sec. 3.4 equals TensorFlow's autodiff and
finite differences, what it saves for the backward pass does not grow with
N while the dense core saves a memory per step, the compiled step updates
the memory in place, and the approximate index path.
"""

import numpy as np
import pytest
import tensorflow as tf

from tests.layers.xla_copies import copies_of
from tests.test_case import run_layer_test
from tfgen.layers.memory import DenseMemoryCell
from tfgen.layers.sparse_memory import SparseMemory

UNITS, WORD, INPUTS = 6, 4, 3


def _layer(memory_size=16, num_reads=2, num_neighbours=3, dtype="float32", **kwargs):
    layer = SparseMemory(UNITS, memory_size, WORD, num_reads, num_neighbours, dtype=dtype, **kwargs)
    layer(tf.zeros([1, 2, INPUTS], dtype))
    return layer


def _inputs(batch=3, steps=7, dtype=tf.float32, seed=0):
    return tf.random.stateless_normal([batch, steps, INPUTS], seed=[seed, 1], dtype=dtype)


def _loss(layer, inputs):
    # A loss that weighs every output differently, so that no gradient cancels.
    outputs = layer(inputs)
    weights = tf.sin(tf.reshape(tf.range(tf.size(outputs[0]), dtype=outputs.dtype), [1, -1]))
    return tf.reduce_sum(tf.reshape(outputs, [tf.shape(outputs)[0], -1]) * weights)


def _gradients(layer, inputs):
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        loss = _loss(layer, inputs)
    return tape.gradient(loss, [inputs, *layer.trainable_weights])


def _twins(**kwargs):
    """A sparse-backprop SAM and an autodiff one with the same weights."""
    sparse = _layer(**kwargs)
    autodiff = _layer(sparse_backprop=False, **kwargs)
    autodiff.set_weights(sparse.get_weights())
    return sparse, autodiff


@pytest.mark.parametrize("index", ["exact", "lsh"])
def test_sparse_backprop_equals_autodiff(index):
    """Sec. 3.4: the reverse pass over saved rows gives TensorFlow's own gradients."""
    sparse, autodiff = _twins(num_reads=2, num_neighbours=3, index=index)
    inputs = _inputs()
    np.testing.assert_array_equal(sparse(inputs), autodiff(inputs))
    for ours, theirs in zip(_gradients(sparse, inputs), _gradients(autodiff, inputs)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)


def test_sparse_backprop_equals_finite_differences():
    layer = _layer(memory_size=8, num_reads=2, num_neighbours=3, dtype="float64")
    inputs = _inputs(batch=1, steps=5, dtype=tf.float64)
    gradient = _gradients(layer, inputs)[0].numpy()
    numeric = np.zeros_like(gradient)
    step = 1e-6
    for index in np.ndindex(*gradient.shape):
        delta = np.zeros(gradient.shape)
        delta[index] = step
        up, down = _loss(layer, inputs + delta), _loss(layer, inputs - delta)
        numeric[index] = (up - down) / (2 * step)
    np.testing.assert_allclose(gradient, numeric, rtol=1e-5, atol=1e-8)


def test_gradients_flow_through_memory_across_steps():
    """An input written at step 0 and read at the last step moves that step's reads."""
    layer = _layer(memory_size=8, num_reads=1, num_neighbours=2)
    inputs = _inputs(batch=1, steps=6)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        reads = layer(inputs)[:, -1, UNITS:]
    assert np.abs(tape.gradient(reads, inputs)[:, 0]).max() > 0


# ------------------------------------------------------------- what is saved
def _while_graphs(graph, seen):
    """`graph` and, recursively, the function graphs of its control-flow ops."""
    yield graph
    for op in graph.get_operations():
        for attr in ("body", "cond", "then_branch", "else_branch", "f"):
            try:
                name = op.get_attr(attr).name
            except (ValueError, AttributeError):
                continue
            function = graph._get_function(name)
            if name not in seen and function is not None:
                seen.add(name)
                yield from _while_graphs(function.graph, seen)


def saved_per_step(layer, memory_size, batch=2, steps=5):
    """Element counts of the tensors pushed, step by step, for the backward pass.

    In a tf.function computing the gradients, these are the items written into
    TensorLists inside loops: TensorFlow's accumulators of a while loop's
    intermediates (TensorListPushBack) and the TensorArrays that SAM's forward
    pass fills (TensorListSetItem).
    """
    inputs = _inputs(batch=batch, steps=steps)
    layer(inputs)
    weights = layer.trainable_weights

    @tf.function
    def gradients(inputs):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(inputs))
        return tape.gradient(loss, weights)

    graph = gradients.get_concrete_function(inputs).graph
    sizes = []
    for function_graph in _while_graphs(graph, set()):
        for op in function_graph.get_operations():
            if op.type in ("TensorListPushBack", "TensorListSetItem"):
                item = op.inputs[1 if op.type == "TensorListPushBack" else 2]
                sizes.append(int(np.prod(item.shape.as_list())))
    return sizes


def test_saved_tensors_are_order_k_not_order_n():
    """Sec. 3.4: O(T K W) saved for the backward pass; the dense core saves O(T N W)."""
    small, large = 256, 4096
    sam_small = saved_per_step(_layer(small, num_reads=1, num_neighbours=4), small)
    sam_large = saved_per_step(_layer(large, num_reads=1, num_neighbours=4), large)
    assert sam_small == sam_large  # Nothing saved grows with N,
    assert max(sam_large) < large  # and no saved item is even one word per memory slot.
    # What SAM saves per step: at most a few words per touched row plus the controller state.
    touched_rows = 2 * (1 * 4 + 1)
    assert sum(sam_large) <= 2 * 4 * (touched_rows * WORD + UNITS)
    dense = tf.keras.layers.RNN(DenseMemoryCell(UNITS, large, WORD), return_sequences=True)
    assert max(saved_per_step(dense, large)) >= 2 * large * WORD  # A memory copy per step.


def test_compiled_step_updates_the_memory_in_place():
    """Under XLA no per-step copy of an O(N) tensor: the loops update them in place.

    The memory, its gradient and the usage record; the LSH index's own state is
    checked in test_lsh_index.py (rebuilding it every N writes copies it, once).
    """
    memory_size, batch = 1024, 2
    layer = _layer(memory_size, num_reads=1, num_neighbours=4)

    @tf.function(jit_compile=True)
    def step(inputs):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(inputs))
        return tape.gradient(loss, layer.trainable_weights)

    # The memory and its gradient [B, N, W], the last access times [B, N].
    shapes = [(batch, memory_size, WORD), (batch, memory_size)]
    assert not copies_of(step, [_inputs(batch=batch, steps=4)], shapes)


def test_xla_gives_the_same_outputs_and_gradients():
    layer = _layer(index="lsh")
    inputs = _inputs()
    compiled = tf.function(lambda x: _gradients(layer, x), jit_compile=True)
    for ours, theirs in zip(compiled(inputs), _gradients(layer, inputs)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def test_layer_case():
    run_layer_test(
        SparseMemory,
        init_kwargs=dict(units=UNITS, memory_size=16, word_size=WORD, num_neighbours=2),
        input_data=np.random.default_rng(0).normal(size=(2, 5, INPUTS)).astype("float32"),
        expected_output_shape=(2, 5, UNITS + WORD),
        expected_num_trainable_weights=5,
    )


def test_lsh_layer_case():
    run_layer_test(
        SparseMemory,
        init_kwargs=dict(
            units=UNITS,
            memory_size=64,
            word_size=WORD,
            num_neighbours=2,
            index="lsh",
            index_options=dict(num_tables=2, bucket_size=4, seed=3),
        ),
        input_data=np.random.default_rng(0).normal(size=(2, 5, INPUTS)).astype("float32"),
        expected_output_shape=(2, 5, UNITS + WORD),
        expected_num_trainable_weights=5,
        expected_num_non_trainable_weights=1,
    )
