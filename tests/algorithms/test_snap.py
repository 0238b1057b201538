"""Tests of tfgen.algorithms.snap: SnAp-n and RTRL (arXiv 2006.07232)."""

import numpy as np
import pytest
import tensorflow as tf

from tfgen import data
from tfgen.algorithms.snap import OnlineTrainer, SnAp, TruncatedBPTTTrainer, snap_pattern
from tfgen.layers import SparseRecurrentCell

KINDS = ("rnn", "gru", "lstm")


def _cell(kind, units=4, sparsity=0.0, input_dim=3):
    cell = SparseRecurrentCell(
        kind, units, sparsity=sparsity, mask_seed=1, bias_initializer="random_normal"
    )
    cell.build(tf.TensorShape([None, input_dim]))
    return cell


def _loss(h, readout):
    return tf.reduce_sum(tf.sin(h @ readout))


def _online_gradients(snap, xs, readout):
    """Sum over t of dL_t/ds_t J_t, parameters fixed (2006.07232 Eq. 2)."""
    states, influence = snap.initial_state(xs.shape[0]), snap.initial_influence(xs.shape[0])
    total = [np.zeros(w.shape) for w in snap.cell.parameters]
    for t in range(xs.shape[1]):
        states, influence = snap.step(xs[:, t], states, influence)
        with tf.GradientTape() as tape:
            tape.watch(states)
            loss = _loss(states[0], readout)
        delta = tape.gradient(loss, states, unconnected_gradients="zero")
        for acc, g in zip(total, snap.gradients(tf.stack(delta, 1), influence)):
            acc += g.numpy()
    return total


def _bptt_gradients(cell, xs, readout):
    with tf.GradientTape() as tape:
        states = [tf.zeros([xs.shape[0], cell.units])] * cell.num_components
        loss = 0.0
        for t in range(xs.shape[1]):
            _, states = cell(xs[:, t], states)
            loss += _loss(states[0], readout)
    return [g.numpy() for g in tape.gradient(loss, cell.parameters)]


def _data(seed, batch=2, steps=6, input_dim=3, units=4):
    rng = np.random.default_rng(seed)
    xs = tf.constant(rng.normal(size=(batch, steps, input_dim)), tf.float32)
    return xs, tf.constant(rng.normal(size=(units, 1)), tf.float32)


def _max_error(grads, reference):
    return max(np.abs(g - r).max() for g, r in zip(grads, reference))


@pytest.mark.parametrize("sparsity", [0.0, 0.5])
@pytest.mark.parametrize("kind", KINDS)
def test_rtrl_equals_bptt(kind, sparsity):
    xs, readout = _data(1)
    cell = _cell(kind, sparsity=sparsity)
    grads = _online_gradients(SnAp(cell, 3, n=None), xs, readout)
    reference = _bptt_gradients(cell, xs, readout)
    assert _max_error(grads, reference) < 1e-5 * max(np.abs(r).max() for r in reference)
    if sparsity:  # no gradient reaches a masked weight
        kernel_mask, recurrent_mask = cell.unit_masks()
        assert np.all(grads[0][np.tile(kernel_mask, [1, cell.num_gates]) == 0] == 0)
        assert np.all(grads[1][np.tile(recurrent_mask, [1, cell.num_gates]) == 0] == 0)


@pytest.mark.parametrize(
    "keras_cell", [tf.keras.layers.SimpleRNNCell, tf.keras.layers.GRUCell, tf.keras.layers.LSTMCell]
)
def test_keras_cells_run_through_shared_weights(keras_cell):
    xs, readout = _data(2)
    cell = keras_cell(4, bias_initializer="random_normal")
    snap = SnAp(cell, 3, n=None)
    shared = zip(snap.cell.parameters, [cell.kernel, cell.recurrent_kernel, cell.bias])
    assert all(ours is theirs for ours, theirs in shared)
    # RTRL through the shared weights equals BPTT through Keras's own cell.
    with tf.GradientTape() as tape:
        states, loss = [tf.zeros([xs.shape[0], 4])] * snap.cell.num_components, 0.0
        for t in range(xs.shape[1]):
            h, states = cell(xs[:, t], states)
            loss += _loss(h, readout)
    reference = [g.numpy() for g in tape.gradient(loss, snap.cell.parameters)]
    grads = _online_gradients(snap, xs, readout)
    assert _max_error(grads, reference) < 1e-5 * max(np.abs(r).max() for r in reference)


def _expected_first_pattern(cell):
    """M_1 built entry by entry: unit i's own unmasked weights (LSTM c: not the o gate)."""
    k, gates = cell.units, cell.num_gates
    kernel_mask, recurrent_mask = cell.unit_masks()
    columns = []
    for weight, mask in zip(cell.parameters, (kernel_mask, recurrent_mask, None)):
        for index in np.ndindex(*weight.shape):
            column = index[-1]
            row = index[0] if weight.shape.rank == 2 else 0
            kept = True if mask is None or weight is cell.bias else mask[row, column % k] > 0
            columns.append((column % k, column // k, kept))
    rows = []
    for component in range(cell.num_components):
        for unit in range(k):
            rows.append(
                [
                    owner == unit and kept and not (component == 1 and gate == gates - 1)
                    for owner, gate, kept in columns
                ]
            )
    return np.array(rows)


@pytest.mark.parametrize("sparsity", [0.0, 0.5])
@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_snap1_keeps_each_units_own_incoming_weights(kind, sparsity):
    cell = _cell(kind, sparsity=sparsity)
    expected = _expected_first_pattern(cell)
    np.testing.assert_array_equal(snap_pattern(cell, 1), expected)
    # The influence SnAp-1 carries is nonzero exactly there (generic random weights).
    snap = SnAp(cell, 3, n=1)
    xs, _ = _data(2)
    states, influence = snap.initial_state(2), snap.initial_influence(2)
    for t in range(xs.shape[1]):
        states, influence = snap.step(xs[:, t], states, influence)
    np.testing.assert_array_equal(snap.dense_influence(influence)[0] != 0, expected)
    # One number per (state component, unmasked parameter): O(p), as a BPTT step.
    kept = sum(int(np.sum(cell.unit_masks()[j])) * cell.num_gates for j in (0, 1))
    kept += int(np.prod(cell.bias.shape))
    assert snap.influence_entries() == cell.num_components * kept


def _reference_snap(cell, xs, readout, n):
    """J_t = (I_t + D_t J_{t-1}) * M_n in NumPy, with I_t and D_t from jacobians of the cell."""
    k, components = cell.units, cell.num_components
    first = _expected_first_pattern(cell)
    _, recurrent_mask = cell.unit_masks()
    links = recurrent_mask.T > 0
    if cell.cell_kind == "lstm":
        eye = np.eye(k, dtype=bool)
        links = np.block([[links, eye], [links, eye]])
    pattern = first
    for _ in range(n - 1):
        pattern = first | (links.astype(int) @ pattern.astype(int) > 0)
    num_params = first.shape[1]
    total = np.zeros(num_params)
    for b in range(xs.shape[0]):
        states = [tf.zeros([1, k])] * components
        influence = np.zeros([components * k, num_params])
        for t in range(xs.shape[1]):
            with tf.GradientTape(persistent=True) as tape:
                tape.watch(states)
                _, new_states = cell(xs[b : b + 1, t], states)
                flat = tf.concat(new_states, 1)[0]
            immediate = np.concatenate(
                [tf.reshape(j, [components * k, -1]) for j in tape.jacobian(flat, cell.parameters)],
                1,
            )
            dynamics = np.concatenate([tape.jacobian(flat, s)[:, 0] for s in states], 1)
            influence = (immediate + dynamics @ influence) * pattern
            states = new_states
            with tf.GradientTape() as tape:
                tape.watch(states[0])
                loss = _loss(states[0], readout)
            delta = np.zeros(components * k)
            delta[:k] = tape.gradient(loss, states[0]).numpy()[0]
            total += delta @ influence
    return total


@pytest.mark.parametrize("n", [1, 2])
@pytest.mark.parametrize("kind", KINDS)
def test_snap_matches_numpy_reference(kind, n):
    xs, readout = _data(3, steps=4)
    cell = _cell(kind, sparsity=0.5)
    grads = _online_gradients(SnAp(cell, 3, n=n), xs, readout)
    flat = np.concatenate([g.ravel() for g in grads])
    expected = _reference_snap(cell, xs, readout, n)
    np.testing.assert_allclose(flat, expected, atol=1e-5 * np.abs(expected).max())


def _flat(grads):
    return np.concatenate([g.ravel() for g in grads])


@pytest.mark.parametrize("kind", KINDS)
def test_snap_n_approaches_rtrl(kind):
    units = 8
    xs, readout = _data(4, steps=8, units=units)
    cell = _cell(kind, units=units, sparsity=0.75)
    rtrl = _flat(_online_gradients(SnAp(cell, 3, n=None), xs, readout))
    closure = snap_pattern(cell, None)
    diameter = next(n for n in range(1, 4 * units) if (snap_pattern(cell, n) == closure).all())
    assert diameter >= 3
    errors = [
        np.linalg.norm(_flat(_online_gradients(SnAp(cell, 3, n=n), xs, readout)) - rtrl)
        / np.linalg.norm(rtrl)
        for n in range(1, diameter + 2)
    ]
    # The relative error falls with n and vanishes once n reaches the graph's diameter.
    assert errors[0] > 1e-2 and errors[0] > errors[1] > errors[2]
    assert all(b <= a + 1e-7 for a, b in zip(errors, errors[1:]))
    assert errors[diameter - 1] < 1e-6 and errors[diameter] < 1e-6
    entries = [SnAp(cell, 3, n=n).influence_entries() for n in (1, 2)]
    assert entries[0] < entries[1] < SnAp(cell, 3, n=None).influence_entries()


@pytest.mark.parametrize("n", [1, 2, None])
def test_step_compiles_with_xla(n):
    cell = _cell("lstm", units=6, sparsity=0.5)
    snap = SnAp(cell, 3, n=n)
    rng = np.random.default_rng(6)
    inputs = tf.constant(rng.normal(size=(2, 3)), tf.float32)
    states = [tf.constant(rng.normal(size=(2, 6)), tf.float32) for _ in range(2)]
    influence = tf.constant(rng.normal(size=snap.influence_shape(2)), tf.float32)
    delta = tf.constant(rng.normal(size=(2, 2, 6)), tf.float32)

    def update(inputs, states, influence):
        states, influence = snap.step(inputs, states, influence)
        return states, influence, snap.gradients(delta, influence)

    eager = tf.nest.flatten(update(inputs, states, influence))
    compiled = tf.function(update, jit_compile=True)(inputs, states, influence)
    for a, b in zip(eager, tf.nest.flatten(compiled)):
        np.testing.assert_allclose(a, b, atol=1e-5)


def _copy_losses(trainer, batches):
    losses = []
    for batch in batches:
        total, count = trainer.train_on_batch(batch["inputs"], batch["targets"], batch["mask"])
        losses.append(float(total / count) / np.log(2.0))  # bits per target bit
    return np.mean(losses[-20:])


def test_online_snap_learns_copy():
    # Copy of 1 to 3 random bits, online updates at every step; the marginal is 1 bit.
    stream = iter(data.load("copy", "train", batch_size=16, seed=0, num_bits=1, max_len=3))
    batches = [next(stream) for _ in range(150)]

    def trainer(method):
        tf.keras.utils.set_random_seed(1)
        cell = SparseRecurrentCell("gru", 16, sparsity=0.75)
        readout, optimizer = tf.keras.layers.Dense(1), tf.keras.optimizers.Adam(0.01)
        if method == "tbptt":
            return TruncatedBPTTTrainer(cell, readout, optimizer, truncation=1, input_dim=2)
        return OnlineTrainer(SnAp(cell, 2, n=method), readout, optimizer)

    losses = {method: _copy_losses(trainer(method), batches) for method in (1, 2, "tbptt")}
    # Truncated BPTT of equal cost per step (one window per step) stays near the marginal.
    assert losses[1] < 0.6 and losses[2] < 0.4
    assert losses[2] < losses[1] < losses["tbptt"]


def test_snap_config_round_trip():
    snap = SnAp(SparseRecurrentCell("gru", 5, sparsity=0.6, mask_seed=2), input_dim=3, n=2)
    clone = SnAp.from_config(snap.get_config())
    assert clone.get_config() == snap.get_config()
    np.testing.assert_array_equal(clone.pattern, snap.pattern)


def test_bad_arguments():
    with pytest.raises(TypeError, match="SparseRecurrentCell or a Keras SimpleRNNCell"):
        SnAp(tf.keras.layers.Dense(4), input_dim=2)
    with pytest.raises(ValueError, match="reset_after=True"):
        SnAp(tf.keras.layers.GRUCell(4, reset_after=False), input_dim=2)
    with pytest.raises(ValueError, match="dropout=0.0"):
        SnAp(tf.keras.layers.LSTMCell(4, dropout=0.1), input_dim=2)
    with pytest.raises(ValueError, match="n: expected an int >= 1"):
        SnAp(SparseRecurrentCell("rnn", 4), input_dim=2, n=0)
