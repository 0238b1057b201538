"""The Associative LSTM cell (arXiv 1602.03032) against a complex128 NumPy reference."""

import os

import numpy as np
import pytest
import tensorflow as tf

from tests.layers import associative_lstm_reference as reference
from tests.test_case import CellRNN, run_layer_test
from tfgen.layers.associative_lstm import (
    DEFAULT_NUM_COPIES,
    AssociativeLSTMCell,
    bound,
    complex_multiply,
    permute_keys,
    random_permutations,
    redundant_read,
    redundant_write,
)


def _random_complex(rng, shape, scale=1.0):
    return scale * (rng.normal(size=shape) + 1j * rng.normal(size=shape))


def _unit_modulus(rng, shape):
    return np.exp(2j * np.pi * rng.random(shape))


def _as_tensor(z):
    return tf.constant(reference.to_real(z), tf.float32)


def test_complex_multiply_matches_numpy():
    rng = np.random.default_rng(0)
    a, b = _random_complex(rng, (3, 5)), _random_complex(rng, (3, 5))
    product = complex_multiply(_as_tensor(a), _as_tensor(b)).numpy()
    np.testing.assert_allclose(reference.to_complex(product), a * b, rtol=1e-5, atol=1e-5)
    # Broadcasting over leading axes: [3, 1, 2n] x [4, 2n].
    c = _random_complex(rng, (4, 5))
    product = complex_multiply(_as_tensor(a)[:, None], _as_tensor(c)).numpy()
    np.testing.assert_allclose(reference.to_complex(product), a[:, None] * c, rtol=1e-5, atol=1e-5)


def test_bound_matches_numpy_and_keeps_the_phase():
    rng = np.random.default_rng(1)
    h = _random_complex(rng, (4, 50), scale=1.5)  # moduli on both sides of 1
    assert np.any(np.abs(h) < 1) and np.any(np.abs(h) > 1)
    bounded = reference.to_complex(bound(_as_tensor(h)).numpy())
    np.testing.assert_allclose(bounded, h / np.maximum(1, np.abs(h)), rtol=1e-5, atol=1e-6)
    assert np.all(np.abs(bounded) <= 1 + 1e-6)
    inside = np.abs(h) < 1
    np.testing.assert_allclose(bounded[inside], h[inside], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.angle(bounded), np.angle(h), atol=1e-5)


def test_bound_gradient_is_finite_at_zero():
    h = tf.zeros([2, 6])
    with tf.GradientTape() as tape:
        tape.watch(h)
        y = tf.reduce_sum(bound(h) * tf.range(6, dtype=tf.float32))
    gradient = tape.gradient(y, h).numpy()
    # Inside the unit circle bound is the identity: the gradient is the weights.
    np.testing.assert_allclose(gradient, np.tile(np.arange(6.0), (2, 1)))


def test_permute_matches_permutation_matrices():
    rng = np.random.default_rng(2)
    keys = _random_complex(rng, (3, 7))
    permutations = random_permutations(4, 7, seed=3)
    permuted = reference.to_complex(permute_keys(_as_tensor(keys), permutations).numpy())
    for s, P in enumerate(reference.permutation_matrices(permutations)):
        np.testing.assert_allclose(permuted[:, s], keys @ P.T, rtol=1e-6)


def _random_step_inputs(rng, batch, input_dim, units, copies):
    cell = AssociativeLSTMCell(units, num_copies=copies, seed=5)
    cell.build([None, input_dim])
    weights = [rng.normal(scale=0.5, size=w.shape) for w in cell.trainable_weights]
    for variable, value in zip(cell.trainable_weights, weights):
        variable.assign(value)
    x = rng.normal(size=(batch, input_dim))
    h = _random_complex(rng, (batch, units), scale=0.5)
    cells = _random_complex(rng, (batch, copies, units))
    return cell, weights, x, h, cells


def test_one_step_matches_the_reference():
    rng = np.random.default_rng(4)
    batch, input_dim, units, copies = 3, 5, 6, 3
    cell, weights, x, h, cells = _random_step_inputs(rng, batch, input_dim, units, copies)
    states = [_as_tensor(h), tf.reshape(_as_tensor(cells), [batch, -1])]
    output, (h_new, c_new) = cell(tf.constant(x, tf.float32), states)
    expected_h, expected_cells = reference.step(x, h, cells, *weights, cell.permutations.numpy())
    np.testing.assert_allclose(output.numpy(), h_new.numpy())
    np.testing.assert_allclose(
        reference.to_complex(output.numpy()), expected_h, rtol=1e-4, atol=1e-5
    )
    got_cells = reference.to_complex(c_new.numpy().reshape(batch, copies, 2 * units))
    np.testing.assert_allclose(got_cells, expected_cells, rtol=1e-4, atol=1e-5)
    assert np.all(np.abs(expected_h) <= 1)  # g_o < 1 times a bounded read


def test_a_sequence_through_keras_rnn_matches_the_reference():
    rng = np.random.default_rng(6)
    batch, steps, input_dim, units, copies = 2, 5, 3, 4, 2
    cell, weights, _, _, _ = _random_step_inputs(rng, batch, input_dim, units, copies)
    x = rng.normal(size=(batch, steps, input_dim))
    outputs = tf.keras.layers.RNN(cell, return_sequences=True)(tf.constant(x, tf.float32))
    h = np.zeros((batch, units), complex)
    cells = np.zeros((batch, copies, units), complex)
    for t in range(steps):
        h, cells = reference.step(x[:, t], h, cells, *weights, cell.permutations.numpy())
        np.testing.assert_allclose(
            reference.to_complex(outputs[:, t].numpy()), h, rtol=1e-4, atol=1e-5
        )


def _retrieval_error(copies, units=256, items=16, trials=32, seed=0):
    """Mean |x~ - x|^2 per complex entry when reading back stored items (Sec. 3)."""
    rng = np.random.default_rng(seed)
    keys = _unit_modulus(rng, (items, trials, units))
    values = _unit_modulus(rng, (items, trials, units))
    permutations = random_permutations(copies, units, seed)
    cells = tf.zeros([trials, copies, 2 * units])
    forget = tf.ones([trials, units])
    for key, value in zip(keys, values):
        cells = redundant_write(cells, forget, _as_tensor(key), _as_tensor(value), permutations)
    # The inverse of a unit-modulus key is its conjugate (Sec. 2.2).
    reads = [redundant_read(cells, _as_tensor(np.conj(key)), permutations) for key in keys]
    retrieved = reference.to_complex(np.stack([r.numpy() for r in reads]))
    return np.mean(np.abs(retrieved - values) ** 2)


def test_one_stored_item_is_retrieved_exactly():
    assert _retrieval_error(copies=1, items=1) < 1e-10
    assert _retrieval_error(copies=4, items=1) < 1e-10


def test_retrieval_error_falls_as_copies_increase():
    copies = [1, 2, 4, 8, 16]
    errors = [_retrieval_error(s) for s in copies]
    for fewer, more in zip(errors, errors[1:]):
        assert more < 0.8 * fewer, errors
    assert errors[0] / errors[-1] > 10, errors
    # Each of the 15 other unit-modulus items adds unit-variance noise to one copy; two
    # copies' noise terms coincide where their permutations agree (1 entry in 256 on
    # average), so the mean over S copies has variance 15 / S * (1 + (S - 1) / 256).
    predicted = [15 / s * (1 + (s - 1) / 256) for s in copies]
    np.testing.assert_allclose(errors, predicted, rtol=0.1)


def test_run_layer_test_on_rnn():
    cell = AssociativeLSTMCell(3, num_copies=2, seed=1)
    x = np.random.default_rng(7).normal(size=(2, 4, 5)).astype(np.float32)
    run_layer_test(
        CellRNN,
        init_kwargs={"cell": cell},
        input_data=x,
        expected_output_shape=(2, 6),
        expected_num_trainable_weights=3,
        expected_num_non_trainable_weights=1,
    )


def test_defaults_sizes_and_initial_state():
    cell = AssociativeLSTMCell(16)
    assert cell.num_copies == DEFAULT_NUM_COPIES
    assert cell.output_size == 32
    assert cell.state_size == [32, DEFAULT_NUM_COPIES * 32]
    h, c = cell.get_initial_state(batch_size=3, dtype=tf.float32)
    assert h.shape == (3, 32) and c.shape == (3, DEFAULT_NUM_COPIES * 32)
    assert not np.any(h.numpy()) and not np.any(c.numpy())
    config = cell.get_config()
    assert isinstance(config["seed"], int)
    revived = AssociativeLSTMCell.from_config(config)
    assert revived.seed == cell.seed


def test_the_copies_add_no_trainable_parameters():
    def trainable(copies):
        layer = tf.keras.layers.RNN(AssociativeLSTMCell(8, num_copies=copies))
        layer(tf.zeros([1, 2, 3]))
        return sum(int(np.prod(w.shape)) for w in layer.trainable_weights)

    assert trainable(1) == trainable(8) == 3 * 9 * 8 + 16 * 9 * 8 + 9 * 8


def test_gradients_are_finite_from_the_zero_state():
    layer = tf.keras.layers.RNN(AssociativeLSTMCell(4, seed=0))
    x = tf.random.normal([2, 3, 5])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x))
    gradients = tape.gradient(loss, layer.trainable_weights)
    assert all(np.all(np.isfinite(g.numpy())) and np.any(g.numpy()) for g in gradients)


def test_permutations_come_from_the_seed():
    def permutations(seed, copies=4, units=32):
        cell = AssociativeLSTMCell(units, num_copies=copies, seed=seed)
        cell.build([None, 3])
        return cell.permutations.numpy()

    first = permutations(11)
    assert first.dtype == np.int32 and first.shape == (4, 32)
    for row in first:
        np.testing.assert_array_equal(np.sort(row), np.arange(32))
    assert len({tuple(row) for row in first}) == 4  # a different permutation per copy
    np.testing.assert_array_equal(permutations(11), first)
    assert not np.array_equal(permutations(12), first)


def _sequential(seed=None):
    return tf.keras.Sequential(
        [
            tf.keras.Input([6, 3]),
            tf.keras.layers.RNN(AssociativeLSTMCell(16, seed=seed)),
            tf.keras.layers.Dense(2),
        ]
    )


def _regression_data():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(32, 6, 3)).astype(np.float32)
    y = np.stack([x[:, 0, 0], x[:, :, 1].mean(axis=1)], axis=1).astype(np.float32)
    return x, y


def test_sequential_fit_save_and_load(tmp_path):
    x, y = _regression_data()
    model = _sequential()
    model.compile(tf.keras.optimizers.Adam(1e-2), loss="mse")
    history = model.fit(x, y, batch_size=8, epochs=4, verbose=0, shuffle=False)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    expected = model.predict(x, verbose=0)

    path = os.path.join(tmp_path, "m.keras")
    model.save(path)
    loaded = tf.keras.models.load_model(path)
    assert type(loaded.layers[0].cell) is AssociativeLSTMCell
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(
        loaded.layers[0].cell.permutations.numpy(), model.layers[0].cell.permutations.numpy()
    )
    # The saved permutations are weights: they replace those of another seed on loading.
    other = _sequential(seed=model.layers[0].cell.seed + 1)
    assert not np.array_equal(
        other.layers[0].cell.permutations.numpy(), model.layers[0].cell.permutations.numpy()
    )
    weights = os.path.join(tmp_path, "weights.h5")
    model.save_weights(weights)
    other.load_weights(weights)
    np.testing.assert_allclose(other.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_jit_compile_gives_the_same_outputs():
    x, y = _regression_data()
    model = _sequential(seed=3)
    expected = model(x).numpy()
    compiled = tf.function(model, jit_compile=True)
    np.testing.assert_allclose(compiled(tf.constant(x)).numpy(), expected, rtol=1e-4, atol=1e-5)
    model.compile(tf.keras.optimizers.Adam(1e-2), loss="mse", jit_compile=True)
    loss = model.fit(x, y, batch_size=16, epochs=1, verbose=0).history["loss"][0]
    assert np.isfinite(loss)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"units": 0}, ValueError),
        ({"units": 2.5}, TypeError),
        ({"units": 4, "num_copies": 0}, ValueError),
        ({"units": 4, "seed": -1}, ValueError),
        ({"units": 4, "seed": "a"}, TypeError),
    ],
)
def test_bad_arguments_raise(kwargs, error):
    with pytest.raises(error):
        AssociativeLSTMCell(**kwargs)
