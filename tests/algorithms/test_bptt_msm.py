"""Tests of tfgen/algorithms/bptt_msm.py: memory-efficient BPTT (arXiv 1606.03401)."""

import heapq
import itertools

import numpy as np
import pytest
import tensorflow as tf

from tfgen.algorithms import bptt_msm
from tfgen.algorithms.bptt_msm import (
    BPTTMSMModel,
    hsm_cost,
    ism_cost,
    msm_cost,
    msm_gradients,
    policy,
)
from tfgen.layers.associative_lstm import AssociativeLSTMCell
from tfgen.layers.grid_lstm import GridLSTMCell


def brute_force_cost(t, m, kind, alpha):
    """Least forward evaluations over all strategies, by Dijkstra over memory contents.

    Written from the problem, not the recursion: a state is (f, H, I), f the last step not yet
    backpropagated, H the stored hidden-state positions (h_0 always, one slot each), I the steps
    whose internal state is stored (alpha slots each, holding their output hidden state too).
    Moves: run the core from any available h_p to store h_r or step r's internal state (r - p
    evaluations), drop a stored item, or backpropagate step f: free from a stored internal
    state, else after running from an available h_p up to h_{f-1} and recomputing step f.
    """
    start = (t, frozenset([0]), frozenset())
    best = {start: 0}
    heap = [(0, 0, start)]
    order = itertools.count()
    while heap:
        cost, _, (f, hidden, internal) = heapq.heappop(heap)
        if f == 0:
            return cost
        if cost > best[(f, hidden, internal)]:
            continue
        sources = hidden | internal
        moves = []
        # Backpropagate step f, then forget what can no longer be used.
        step_cost = 0 if f in internal else min(f - p for p in sources if p <= f - 1)
        keep_h = frozenset(p for p in hidden if p <= f - 2)
        moves.append((step_cost, (f - 1, keep_h, frozenset(q for q in internal if q <= f - 1))))
        for p in sources:
            for r in range(p + 1, f + 1):
                if kind != "ism" and r <= f - 1 and r not in hidden:
                    moves.append((r - p, (f, hidden | {r}, internal)))
                if kind != "hsm" and r not in internal:
                    moves.append((r - p, (f, hidden, internal | {r})))
        moves += [(0, (f, hidden - {p}, internal)) for p in hidden if p]
        moves += [(0, (f, hidden, internal - {q})) for q in internal]
        for extra, state in moves:
            if len(state[1]) + alpha * len(state[2]) > m:
                continue
            if cost + extra < best.get(state, np.inf):
                best[state] = cost + extra
                heapq.heappush(heap, (cost + extra, next(order), state))
    raise AssertionError("no strategy fits the memory")


def simulate(plan):
    """Replays a schedule without TF; returns (evaluations, peak memory in slots)."""
    slots = {0: (0, 1)}  # slot -> (position of its hidden state, size in slots)
    internal_steps = {}
    position, frontier, evaluations, peak = None, plan.t, 0, 1
    for op, slot, step in plan.schedule.tolist():
        if op == bptt_msm.LOAD:
            assert slots[slot][0] == step
            position = step
        elif op == bptt_msm.FORWARD:
            assert position is not None and position <= step < frontier
            evaluations, position = evaluations + step - position, step
        elif op == bptt_msm.STORE_HIDDEN:
            assert position == step and slot not in slots
            slots[slot] = (step, 1)
        elif op == bptt_msm.STORE_INTERNAL:
            assert position == step - 1 and slot not in slots and step <= frontier
            slots[slot], internal_steps[slot] = (step, plan.alpha), step
            evaluations, position = evaluations + 1, step
        elif op == bptt_msm.BACKWARD:
            assert step == frontier and position == step - 1
            evaluations, frontier, position = evaluations + 1, frontier - 1, None
        elif op == bptt_msm.BACKWARD_INTERNAL:
            assert step == frontier and internal_steps[slot] == step
            frontier, position = frontier - 1, None
        elif op == bptt_msm.FREE:
            del slots[slot]
            internal_steps.pop(slot, None)
        peak = max(peak, sum(size for _, size in slots.values()))
    assert frontier == 0, "every step must be backpropagated once, from t down to 1"
    return evaluations, peak


COST = {"hsm": lambda t, m, a: hsm_cost(t, m), "ism": ism_cost, "msm": msm_cost}


@pytest.mark.parametrize("kind, alpha", [("hsm", 1), ("ism", 1), ("ism", 2), ("msm", 2)])
def test_dp_cost_equals_brute_force(kind, alpha):
    for t in range(1, 7):
        for m in range(1, 5):
            assert COST[kind](t, m, alpha) == brute_force_cost(t, m, kind, alpha), (t, m)


def test_paper_boundary_values():
    for t in (1, 5, 40):
        assert hsm_cost(t, 1) == t * (t + 1) // 2  # Q(t, 1)
        assert hsm_cost(t, t + 3) == 2 * t - 1  # every hidden state stored
        assert ism_cost(t, 1 + 3 * t, 3) == t  # every internal state stored: plain BPTT
        assert msm_cost(t, 1, 2) == t * (t + 1) // 2
    for m in (1, 2, 9):
        assert hsm_cost(1, m) == 1  # Q(1, m)
    # Eq. 1 at one (t, m), by hand from the table values.
    q = {(n, k): hsm_cost(n, k) for n in range(1, 30) for k in (2, 3)}
    assert q[(29, 3)] == min(y + q[(29 - y, 2)] + q[(y, 3)] for y in range(1, 29))
    # Mixing never costs more than either pure strategy.
    for t, m in [(30, 4), (100, 10), (100, 30)]:
        assert msm_cost(t, m, 3) <= min(hsm_cost(t, m), ism_cost(t, m, 3))


@pytest.mark.parametrize(
    "t, m, kind, alpha",
    [(1, 1, "hsm", None), (10, 1, "hsm", None), (50, 4, "hsm", None), (200, 20, "hsm", None)]
    + [(50, 7, "ism", 3), (50, 7, "msm", 3), (120, 15, "msm", 4), (30, 200, "msm", 2)],
)
def test_policy_schedule_respects_budget_and_cost(t, m, kind, alpha):
    plan = policy(t, m, kind, alpha)
    evaluations, peak = simulate(plan)
    assert evaluations == plan.cost == COST[kind](t, m, alpha)
    assert evaluations == bptt_msm.schedule_evaluations(plan.schedule)
    assert peak <= m


def _reference(cell, readout, inputs, targets, loss_fn):
    """Plain BPTT: one GradientTape over a Python loop of cell calls."""
    state = [
        tf.convert_to_tensor(s)
        for s in tf.nest.flatten(
            cell.get_initial_state(batch_size=inputs.shape[0], dtype=tf.float32)
        )
    ]
    with tf.GradientTape() as tape:
        losses = []
        for step in range(inputs.shape[1]):
            output, state = cell(inputs[:, step], state)
            state = tf.nest.flatten(state)
            losses.append(loss_fn(targets[:, step], readout(output)))
        loss = tf.add_n(losses) / len(losses)
    variables = cell.trainable_variables + readout.trainable_variables
    return loss, tape.gradient(loss, variables)


CELLS = {
    "lstm": lambda: tf.keras.layers.LSTMCell(6),
    "gru": lambda: tf.keras.layers.GRUCell(6),
    "simple": lambda: tf.keras.layers.SimpleRNNCell(6),
    "grid_lstm": lambda: GridLSTMCell(6, num_layers=2),
    "associative_lstm": lambda: AssociativeLSTMCell(4),
}


@pytest.mark.parametrize("name", sorted(CELLS))
def test_gradients_equal_bptt(name):
    tf.random.set_seed(1)
    batch, length = 3, 7
    inputs = tf.random.normal([batch, length, 4])
    targets = tf.random.normal([batch, length, 2])
    cell, readout = CELLS[name](), tf.keras.layers.Dense(2)
    loss_fn = tf.keras.losses.MeanSquaredError()
    ref_loss, ref_grads = _reference(cell, readout, inputs, targets, loss_fn)
    policies = [("hsm", 3, None)]
    if name not in ("grid_lstm", "associative_lstm"):  # their unrolled MSM traces are slow
        policies.append(("msm", 4, 2))
    if name == "lstm":
        policies += [("hsm", 1, None), ("ism", 30, 2)]
    for kind, m, alpha in policies:
        plan = policy(length, m, kind, alpha)
        run = tf.function(
            lambda plan=plan: msm_gradients(cell, readout, inputs, targets, loss_fn, plan)
        )
        loss, grads, evaluations = run()
        assert int(evaluations) == plan.cost, (kind, m)
        np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
        assert len(grads) == len(ref_grads)
        for grad, ref in zip(grads, ref_grads):
            np.testing.assert_allclose(grad, ref, rtol=1e-4, atol=1e-6)


def test_bad_inputs():
    with pytest.raises(ValueError, match="m: expected an int >= 1"):
        hsm_cost(5, 0)
    with pytest.raises(ValueError, match="t: expected an int >= 1"):
        policy(0, 3)
    with pytest.raises(TypeError, match="t: expected an int"):
        hsm_cost(2.5, 3)
    with pytest.raises(ValueError, match="kind: expected one of"):
        policy(5, 2, kind="bptt")
    with pytest.raises(ValueError, match="needs alpha"):
        policy(5, 2, kind="msm")
    with pytest.raises(TypeError, match="alpha: expected an int"):
        ism_cost(5, 2, alpha=1.5)
    cell, readout = tf.keras.layers.SimpleRNNCell(3), tf.keras.layers.Dense(1)
    inputs, targets = tf.zeros([2, 4, 3]), tf.zeros([2, 4, 1])
    loss_fn = tf.keras.losses.MeanSquaredError()
    with pytest.raises(ValueError, match="made for t = 5, the inputs have T = 4"):
        msm_gradients(cell, readout, inputs, targets, loss_fn, policy(5, 2))
    with pytest.raises(TypeError, match="expected a Policy"):
        msm_gradients(cell, readout, inputs, targets, loss_fn, 3)


def _running_sum_task(seed, count=64, length=12):
    rng = np.random.default_rng(seed)
    inputs = rng.normal(size=(count, length, 1)).astype("float32")
    return inputs, np.cumsum(inputs, axis=1) / 3.0


def test_fit_lowers_the_loss_and_saves(tmp_path):
    tf.random.set_seed(0)
    inputs, targets = _running_sum_task(0)
    model = BPTTMSMModel(tf.keras.layers.LSTMCell(8), tf.keras.layers.Dense(1), memory_slots=3)
    model.compile(optimizer=tf.keras.optimizers.Adam(0.02), loss="mse")
    history = model.fit(inputs, targets, batch_size=16, epochs=8, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0]
    # The same loss as Keras's own over the whole sequence, for the reported metric's unit.
    predictions = model(inputs)
    keras_loss = float(tf.keras.losses.mean_squared_error(targets, predictions).numpy().mean())
    assert keras_loss < losses[0]

    path = str(tmp_path / "m.keras")
    model.save(path)
    restored = tf.keras.models.load_model(path)
    assert isinstance(restored, BPTTMSMModel)
    assert (restored.memory_slots, restored.kind) == (3, "hsm")
    np.testing.assert_allclose(restored(inputs), predictions, atol=1e-6)


def test_fit_with_mixed_policy_matches_plain_training():
    """One `fit` step under BPTT-MSM moves the weights exactly as one BPTT step does."""
    inputs, targets = _running_sum_task(1, count=8, length=6)

    def build(memory_slots, kind, alpha):
        model = BPTTMSMModel(
            tf.keras.layers.GRUCell(5), tf.keras.layers.Dense(1), memory_slots, kind, alpha
        )
        model(inputs[:1])
        model.compile(optimizer=tf.keras.optimizers.SGD(0.1), loss="mse")
        return model

    mixed, full = build(4, "msm", 2), build(100, "ism", 2)
    mixed.set_weights(full.get_weights())
    for model in (mixed, full):
        model.fit(inputs, targets, batch_size=8, epochs=1, verbose=0)
    for a, b in zip(mixed.get_weights(), full.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    config = mixed.get_config()
    assert (config["memory_slots"], config["kind"], config["alpha"]) == (4, "msm", 2)
