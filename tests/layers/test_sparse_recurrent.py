"""Tests of tfgen.layers.sparse_recurrent: Keras-equal cells with fixed sparse weights."""

import numpy as np
import pytest
import tensorflow as tf

from tests.test_case import CellRNN, run_layer_test
from tfgen.layers import SparseRecurrentCell

KERAS_CELLS = {
    "rnn": tf.keras.layers.SimpleRNNCell,
    "gru": tf.keras.layers.GRUCell,
    "lstm": tf.keras.layers.LSTMCell,
}


@pytest.mark.parametrize("kind", sorted(KERAS_CELLS))
def test_dense_cell_matches_keras_cell(kind):
    xs = tf.constant(np.random.default_rng(0).normal(size=(2, 6, 3)), tf.float32)
    cell = SparseRecurrentCell(kind, 4, bias_initializer="random_normal")
    ours = tf.keras.layers.RNN(cell, return_sequences=True)
    ours(xs)
    keras_cell = KERAS_CELLS[kind](4)
    keras_rnn = tf.keras.layers.RNN(keras_cell, return_sequences=True)
    keras_rnn(xs)
    keras_cell.set_weights([w.numpy() for w in cell.parameters])
    np.testing.assert_allclose(ours(xs), keras_rnn(xs), atol=1e-5)


@pytest.mark.parametrize("kind", sorted(KERAS_CELLS))
def test_sparse_cell_is_the_keras_cell_with_masked_weights(kind):
    xs = tf.constant(np.random.default_rng(1).normal(size=(2, 5, 6)), tf.float32)
    cell = SparseRecurrentCell(kind, 8, sparsity=0.75, mask_seed=4)
    ours = tf.keras.layers.RNN(cell, return_sequences=True)
    ours(xs)
    kernel_mask, recurrent_mask = cell.unit_masks()
    # Each unit keeps round(0.25 n) of its n inputs, always its own previous state.
    np.testing.assert_array_equal(kernel_mask.sum(0), np.full(8, 2.0))
    np.testing.assert_array_equal(recurrent_mask.sum(0), np.full(8, 2.0))
    np.testing.assert_array_equal(np.diag(recurrent_mask), np.ones(8))
    keras_cell = KERAS_CELLS[kind](8)
    keras_rnn = tf.keras.layers.RNN(keras_cell, return_sequences=True)
    keras_rnn(xs)
    gates = cell.num_gates
    keras_cell.set_weights(
        [
            cell.kernel.numpy() * np.tile(kernel_mask, [1, gates]),
            cell.recurrent_kernel.numpy() * np.tile(recurrent_mask, [1, gates]),
            cell.bias.numpy(),
        ]
    )
    np.testing.assert_allclose(ours(xs), keras_rnn(xs), atol=1e-5)


def test_layer_test_case():
    run_layer_test(
        CellRNN,
        init_kwargs={"cell": SparseRecurrentCell("lstm", 4, sparsity=0.5)},
        input_data=np.random.default_rng(5).normal(size=(3, 4, 2)).astype(np.float32),
        expected_output_shape=(3, 4),
        expected_num_trainable_weights=3,
        expected_num_non_trainable_weights=2,
    )


@pytest.mark.parametrize("kind", sorted(KERAS_CELLS))
def test_sequential_fit_save_and_reload(kind, tmp_path):
    x = np.random.default_rng(5).normal(size=(3, 4, 2)).astype(np.float32)
    model = tf.keras.Sequential(
        [
            tf.keras.Input([4, 2]),
            tf.keras.layers.RNN(SparseRecurrentCell(kind, 4, sparsity=0.5, mask_seed=3)),
            tf.keras.layers.Dense(1),
        ]
    )
    model.compile("adam", "mse")
    model.fit(x, np.ones([3, 1]), epochs=2, verbose=0)
    path = str(tmp_path / f"{kind}.keras")
    model.save(path)
    loaded = tf.keras.models.load_model(path)
    np.testing.assert_allclose(loaded(x), model(x), atol=1e-6)
    for saved, restored in zip(
        model.layers[0].cell.non_trainable_weights, loaded.layers[0].cell.non_trainable_weights
    ):
        np.testing.assert_array_equal(restored, saved)


def test_bad_arguments():
    with pytest.raises(ValueError, match="cell_kind"):
        SparseRecurrentCell("elman", 4)
    with pytest.raises(ValueError, match="sparsity"):
        SparseRecurrentCell("rnn", 4, sparsity=1.0)
    with pytest.raises(TypeError, match="sparsity"):
        SparseRecurrentCell("rnn", 4, sparsity="dense")
