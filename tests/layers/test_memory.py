"""The dense and sparse memory cores (arXiv 1610.09027) against a NumPy reference.

The reference (`tests/layers/memory_reference.py`) is written from the
paper's equations (Sec. 3.1 reads, Sec. 3.2 writes, Supp. A usage), one
element and one step at a time. The tests check its equations on hand-made
numbers, the layers' building blocks against it, whole runs of
`RNN(DenseMemoryCell)` and `SparseMemory(index="exact")` against it, the
shared layer test case, argument checks, and `.keras` saving after `fit`.
"""

import numpy as np
import pytest
import tensorflow as tf

from tests.layers import memory_reference as ref
from tests.test_case import CellRNN, run_layer_test, run_serialization_test
from tfgen.layers.memory import (
    DenseMemoryCell,
    MemoryController,
    cosine_similarity,
    least_recently_accessed,
    write_weights,
)
from tfgen.layers.sparse_memory import SparseMemory

B, T, D, UNITS, N, W = 2, 6, 3, 8, 16, 4  # D: the input width


def _inputs(seed=1, batch=B, steps=T):
    return np.random.default_rng(seed).normal(size=(batch, steps, D)).astype("float32")


def _controller_weights(controller):
    """The reference's dict of the controller's LSTM and interface weights."""
    lstm, interface = controller.lstm, controller.interface
    return dict(
        kernel=lstm.kernel.numpy(),
        recurrent_kernel=lstm.recurrent_kernel.numpy(),
        bias=lstm.bias.numpy(),
        interface_kernel=interface.kernel.numpy(),
        interface_bias=interface.bias.numpy(),
    )


def _randomize(layer, controller, num_reads, seed=3, strength_bias=6.0):
    """Random normal weights (scale 0.5), the read strengths raised so reads are peaked.

    Peaked reads leave some words below delta, so the least used word moves.
    """
    rng = np.random.default_rng(seed)
    layer.set_weights([0.5 * rng.normal(size=w.shape) for w in layer.get_weights()])
    bias = controller.interface.bias.numpy()
    keys = num_reads * W
    bias[keys : keys + num_reads] += strength_bias  # the beta_hat columns
    controller.interface.bias.assign(bias)


# ----------------------------------------------------------- the reference itself


def test_reference_lstm_step_is_keras_lstm_cell():
    rng = np.random.default_rng(0)
    cell = tf.keras.layers.LSTMCell(5, unit_forget_bias=False)
    x, h, c = (tf.constant(rng.normal(size=(1, n)), tf.float32) for n in (3, 5, 5))
    cell.build(tf.TensorShape([None, 3]))
    cell.bias.assign(rng.normal(size=20))
    out, (h_new, c_new) = cell(x, [h, c])
    x, h, c = (v.numpy()[0] for v in (x, h, c))
    expected_h, expected_c = ref.lstm_step(x, h, c, *(w.numpy() for w in cell.weights))
    np.testing.assert_allclose(h_new[0], expected_h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c_new[0], expected_c, rtol=1e-5, atol=1e-6)


def test_reference_interface_split():
    # H = 2, W = 2: keys [0:4], beta_hat [4:6], a [6:8], alpha_hat, gamma_hat.
    p = np.array([1.0, 2.0, 3.0, 4.0, 0.0, np.log(np.e - 1.0), 5.0, 6.0, 0.0, np.log(3.0)])
    terms = ref.interface(p, word_size=2, num_reads=2)
    np.testing.assert_array_equal(terms["keys"], [[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(terms["strengths"], [1.0 + np.log(2.0), 2.0])
    np.testing.assert_array_equal(terms["write_vector"], [5.0, 6.0])
    assert terms["write_gate"] == 0.5 and np.isclose(terms["allocation_gate"], 0.75)


def test_reference_cosine():
    assert ref.cosine(np.array([1.0, 0.0]), np.array([0.0, 2.0])) == 0.0
    assert np.isclose(ref.cosine(np.array([1.0, 0.0]), np.array([3.0, 0.0])), 3.0 / (3.0 + 1e-6))
    assert np.isclose(ref.cosine(np.array([1.0, 1.0]), np.array([-2.0, -2.0])), -1.0, atol=1e-6)
    assert ref.cosine(np.array([1.0, 1.0]), np.zeros(2)) == 0.0  # an empty word


def test_reference_least_recently_accessed_takes_the_first_on_ties():
    assert ref.least_recently_accessed([3.0, 1.0, 1.0, 2.0]) == 1
    assert ref.least_recently_accessed([0.0, 0.0, 0.0]) == 0
    assert ref.least_recently_accessed([4.0, 5.0, 2.0]) == 2


def test_reference_write_to_the_least_used_word_erases_it():
    memory = np.arange(8.0).reshape(4, 2)
    a = np.array([10.0, -10.0])
    # alpha = 1, gamma = 0: w^W = I^U, so word 2 becomes a and the rest stays.
    weights = ref.write_weights(1.0, 0.0, np.array([0.5, 0.5, 0.0, 0.0]), least_used=2)
    np.testing.assert_array_equal(weights, [0.0, 0.0, 1.0, 0.0])
    written = ref.write_memory(memory, 2, weights, a)
    np.testing.assert_array_equal(written, [[0, 1], [2, 3], [10, -10], [6, 7]])
    # alpha = 0.5, gamma = 0.75: 0.5 (0.75 [0.2, 0.8, 0, 0] + 0.25 I^U(3)).
    weights = ref.write_weights(0.5, 0.75, np.array([0.2, 0.8, 0.0, 0.0]), least_used=3)
    np.testing.assert_allclose(weights, [0.075, 0.3, 0.0, 0.125])
    written = ref.write_memory(memory, 3, weights, a)
    np.testing.assert_allclose(written, [[0.75, 0.25], [5, 0], [4, 5], [1.25, -1.25]], atol=1e-12)
    # No write (alpha = 0) still erases the least used word.
    weights = ref.write_weights(0.0, 0.3, np.array([0.2, 0.8, 0.0, 0.0]), least_used=0)
    np.testing.assert_array_equal(ref.write_memory(memory, 0, weights, a)[0], [0, 0])


def test_reference_dense_and_sparse_reads():
    memory = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0], [2.0, 0.0]])
    key, beta = np.array([1.0, 0.0]), 2.0
    cosines = np.array([1.0, 0.0, np.sqrt(0.5), -1.0, 1.0])  # up to eps
    dense = ref.read_weights(key, beta, memory)
    expected = np.exp(beta * cosines) / np.exp(beta * cosines).sum()
    np.testing.assert_allclose(dense, expected, rtol=1e-5)
    # K = 2: words 0 and 4, both at cos 1 (up to eps), equally weighted.
    sparse = ref.read_weights(key, beta, memory, num_neighbours=2)
    np.testing.assert_array_equal(sparse[[1, 2, 3]], 0.0)  # outside the top K: zero
    np.testing.assert_allclose(sparse[[0, 4]], 0.5, rtol=1e-5)
    np.testing.assert_allclose(sparse.sum(), 1.0)
    # K = 3: the third nearest is word 2 (cos 0.707), weighted by the softmax over the three.
    sparse = ref.read_weights(key, beta, memory, num_neighbours=3)
    top = np.exp(beta * cosines[[0, 2, 4]])
    np.testing.assert_allclose(sparse[[0, 2, 4]], top / top.sum(), rtol=1e-5)
    np.testing.assert_array_equal(sparse[[1, 3]], 0.0)
    # Exact ties go to the lower index: of four equal words, K = 2 reads words 0 and 1.
    sparse = ref.read_weights(key, beta, np.ones([4, 2]), num_neighbours=2)
    np.testing.assert_allclose(sparse, [0.5, 0.5, 0.0, 0.0])
    # r = sum_i w(i) M(i).
    np.testing.assert_allclose(sparse @ np.diag([1.0, 2.0, 3.0, 4.0])[:, :2], [0.5, 1.0])


def test_reference_last_access_marks_words_above_delta():
    write = np.array([0.004, 0.0, 0.003, 0.0, 0.5])
    reads = np.array([[0.0, 0.006, 0.003, 0.004, 0.0], [0.0, 0.0, 0.0, 0.0005, 0.0]])
    last_access = ref.update_last_access(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), write, reads, 7)
    # Sums: 0.004, 0.006, 0.006, 0.0045, 0.5 against delta = 0.005.
    np.testing.assert_array_equal(last_access, [1.0, 7.0, 7.0, 4.0, 7.0])


def test_reference_sparse_core_with_all_words_is_the_dense_core():
    rng = np.random.default_rng(0)
    heads, p = 2, 2 * W + 2 + W + 2
    weights = dict(
        kernel=rng.normal(size=(D + heads * W, 4 * UNITS)),
        recurrent_kernel=rng.normal(size=(UNITS, 4 * UNITS)),
        bias=rng.normal(size=4 * UNITS),
        interface_kernel=rng.normal(size=(UNITS, p)),
        interface_bias=rng.normal(size=p),
    )
    dense = ref.memory_core(_inputs(), weights, 6, W, heads)
    sparse = ref.memory_core(_inputs(), weights, 6, W, heads, num_neighbours=6)
    np.testing.assert_allclose(sparse, dense, rtol=1e-12)
    fewer = ref.memory_core(_inputs(), weights, 6, W, heads, num_neighbours=2)
    assert not np.allclose(fewer, dense)


# ----------------------------------------------------- the building blocks


def test_cosine_similarity_matches_reference():
    rng = np.random.default_rng(0)
    keys, words = rng.normal(size=(2, 3, W)), rng.normal(size=(2, 1, 5, W))
    words[0, 0, 1] = 0.0  # an empty word
    got = cosine_similarity(tf.constant(keys), tf.constant(words)).numpy()
    expected = [[[ref.cosine(k, m) for m in words[b, 0]] for k in keys[b]] for b in range(2)]
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_write_weights_and_least_used_match_reference():
    rng = np.random.default_rng(0)
    alpha, gamma = rng.random(3), rng.random(3)
    previous = rng.dirichlet(np.ones(N), size=3)
    last_access = rng.integers(0, 3, size=(3, N)).astype("float32")  # ties
    least_used = least_recently_accessed(tf.constant(last_access)).numpy()
    expected = [ref.least_recently_accessed(row) for row in last_access]
    np.testing.assert_array_equal(least_used, expected)
    one_hot = np.eye(N)[least_used]
    got = write_weights(*(tf.constant(v) for v in (alpha, gamma, previous, one_hot))).numpy()
    for b in range(3):
        np.testing.assert_allclose(
            got[b], ref.write_weights(alpha[b], gamma[b], previous[b], expected[b]), rtol=1e-12
        )


# ------------------------------------------------------- whole runs


def _dense_rnn(num_reads, usage_threshold=ref.USAGE_THRESHOLD):
    cell = DenseMemoryCell(UNITS, N, W, num_reads=num_reads, usage_threshold=usage_threshold)
    rnn = tf.keras.layers.RNN(cell, return_sequences=True)
    rnn(_inputs())
    _randomize(rnn, cell.controller, num_reads)
    return rnn, cell


def _initial_state(num_reads, seed=5):
    """A random memory M_0 and last access times in {-3, ..., 0} (many ties)."""
    rng = np.random.default_rng(seed)
    memory = rng.normal(size=(B, N, W)).astype("float32")
    last_access = rng.integers(-3, 1, size=(B, N)).astype("float32")
    zeros = lambda *shape: np.zeros([B, *shape], "float32")  # noqa: E731
    states = [zeros(UNITS), zeros(UNITS), memory, last_access]
    states += [zeros(num_reads, N), zeros(num_reads * W), zeros(1)]
    return states, memory, last_access


@pytest.mark.parametrize("num_reads", [1, 2])
def test_dense_cell_from_zeros_matches_reference(num_reads):
    rnn, cell = _dense_rnn(num_reads)
    x = _inputs()
    expected = ref.memory_core(x, _controller_weights(cell.controller), N, W, num_reads)
    np.testing.assert_allclose(rnn(x), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "num_reads, usage_threshold", [(1, ref.USAGE_THRESHOLD), (2, ref.USAGE_THRESHOLD), (2, 0.05)]
)
def test_dense_cell_from_a_random_memory_matches_reference(num_reads, usage_threshold):
    # From an empty memory the dense core keeps writing word 0 (every word is read above
    # delta at t = 1); a random M_0 with older access times makes the least used word move.
    rnn, cell = _dense_rnn(num_reads, usage_threshold)
    x = _inputs()
    states, memory, last_access = _initial_state(num_reads)
    expected, least_used = ref.memory_core(
        x,
        _controller_weights(cell.controller),
        N,
        W,
        num_reads,
        usage_threshold=usage_threshold,
        initial_memory=memory,
        initial_last_access=last_access,
        return_least_used=True,
    )
    assert all(len(set(row)) >= 4 for row in least_used), least_used
    outputs = rnn(x, initial_state=[tf.constant(s) for s in states])
    np.testing.assert_allclose(outputs, expected, rtol=1e-4, atol=1e-5)


def _sparse_layer(num_neighbours, num_reads=2, **kwargs):
    layer = SparseMemory(
        UNITS, N, W, num_reads=num_reads, num_neighbours=num_neighbours, index="exact", **kwargs
    )
    layer(_inputs())
    _randomize(layer, layer.controller, num_reads, strength_bias=0.0)
    return layer


@pytest.mark.parametrize("sparse_backprop", [True, False])
def test_sparse_memory_matches_reference(sparse_backprop):
    k = 3
    layer = _sparse_layer(k, sparse_backprop=sparse_backprop)
    x = _inputs(steps=8)
    expected, least_used = ref.memory_core(
        x,
        _controller_weights(layer.controller),
        N,
        W,
        num_reads=2,
        num_neighbours=k,
        return_least_used=True,
    )
    assert all(len(set(row)) >= 5 for row in least_used), least_used
    np.testing.assert_allclose(layer(x), expected, rtol=1e-4, atol=1e-5)


def test_sparse_memory_reading_every_word_is_the_dense_cell():
    layer = _sparse_layer(N)
    rnn, cell = _dense_rnn(2)
    rnn.set_weights(layer.get_weights())
    x = _inputs()
    np.testing.assert_allclose(layer(x), rnn(x), rtol=1e-4, atol=1e-5)


# ---------------------------------------------- layer case, config, arguments


def test_dense_cell_layer_case():
    cell = DenseMemoryCell(UNITS, N, W, num_reads=2, usage_threshold=0.01)
    run_layer_test(
        CellRNN,
        init_kwargs={"cell": cell},
        input_data=_inputs(),
        expected_output_shape=(B, UNITS + 2 * W),
        expected_num_trainable_weights=5,  # the LSTM's 3, the interface's 2
    )


def test_controller_interface_matches_reference():
    # Not through `run_layer_test`: its `states` argument is a list of batched tensors,
    # which the helper passes as constants (a fixed batch); DenseMemoryCell's case covers it.
    controller = run_serialization_test(MemoryController(UNITS, W, num_reads=2))
    rng = np.random.default_rng(0)
    x, reads = rng.normal(size=(B, D)), rng.normal(size=(B, 2 * W))
    h, c = rng.normal(size=(B, UNITS)), rng.normal(size=(B, UNITS))
    x_t, reads_t, h_t, c_t = (tf.constant(v, tf.float32) for v in (x, reads, h, c))
    out, (h_new, c_new), terms = controller(x_t, reads_t, [h_t, c_t])
    weights = _controller_weights(controller)
    for b in range(B):
        expected_h, expected_c = ref.lstm_step(
            np.concatenate([x[b], reads[b]]),
            h[b],
            c[b],
            weights["kernel"],
            weights["recurrent_kernel"],
            weights["bias"],
        )
        np.testing.assert_allclose(out[b], expected_h, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(c_new[b], expected_c, rtol=1e-4, atol=1e-5)
        expected = ref.interface(
            expected_h @ weights["interface_kernel"] + weights["interface_bias"], W, 2
        )
        for name, value in expected.items():
            np.testing.assert_allclose(terms[name][b], value, rtol=1e-4, atol=1e-5)


def test_dense_cell_config_round_trips_with_paper_default():
    cell = run_serialization_test(DenseMemoryCell(UNITS, N, W, num_reads=2))
    assert cell.usage_threshold == 0.005  # delta of Supp. A


def test_sparse_memory_config_round_trips_with_paper_defaults():
    layer = run_serialization_test(SparseMemory(UNITS, N, W, num_reads=2, num_neighbours=3))
    config = layer.get_config()
    assert (config["num_neighbours"], config["index"], config["num_reads"]) == (3, "exact", 2)
    assert SparseMemory(UNITS, N, W).num_neighbours == 4  # K = 4 of Sec. 4


@pytest.mark.parametrize("cls", [DenseMemoryCell, SparseMemory])
@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"memory_size": 0}, ValueError, "memory_size.*0"),
        ({"word_size": "a"}, TypeError, "word_size.*'a'"),
        ({"usage_threshold": 2}, ValueError, "usage_threshold.*2"),
        ({"units": 2.5}, TypeError, "units.*2.5"),
        ({"num_reads": 0}, ValueError, "num_reads.*0"),
    ],
)
def test_bad_arguments(cls, kwargs, error, message):
    arguments = dict(units=UNITS, memory_size=N, word_size=W)
    with pytest.raises(error, match=message):
        cls(**{**arguments, **kwargs})


def test_sparse_memory_bad_neighbours_and_index():
    with pytest.raises(ValueError, match="num_neighbours.*17"):
        SparseMemory(UNITS, N, W, num_neighbours=17)
    with pytest.raises(ValueError, match="index.*'annoy'"):
        SparseMemory(UNITS, N, W, index="annoy")


# ------------------------------------------------------------------ saving


def test_sequential_fit_save_and_load(tmp_path):
    x = _inputs(batch=8)
    y = np.random.default_rng(2).normal(size=(8, 2)).astype("float32")
    model = tf.keras.Sequential(
        [
            tf.keras.Input((T, D)),
            tf.keras.layers.RNN(DenseMemoryCell(UNITS, N, W, num_reads=2)),
            tf.keras.layers.Dense(2),
        ]
    )
    model.compile(optimizer=tf.keras.optimizers.Adam(0.01), loss="mse")
    before = [w.numpy() for w in model.trainable_weights]
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)  # 2 steps
    assert all(not np.array_equal(w.numpy(), b) for w, b in zip(model.trainable_weights, before))
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = tf.keras.models.load_model(path)
    assert isinstance(loaded.layers[0].cell, DenseMemoryCell)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
