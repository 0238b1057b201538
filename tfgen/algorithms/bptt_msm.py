"""Memory-efficient backpropagation through time (Gruslys et al., arXiv 1606.03401).

BPTT keeps the internal state of every step of a sequence for the backward pass. The paper
trades memory for recomputation: with a budget of `m` memory slots (one slot holds one hidden
state), a dynamic programme finds where to store hidden states (BPTT-HSM), internal
states (BPTT-ISM; one internal state takes `alpha` slots) or both (BPTT-MSM)
so that the number of forward evaluations of the recurrent core is smallest. The gradients are
exactly BPTT's.

Cost convention (the paper's): the cost counts every forward evaluation of the core, the first
forward pass included, and the recomputation of a step before backpropagating through it from a
hidden state. Backward evaluations are not counted: each step is backpropagated exactly once
under every policy. `m` counts the slot that holds the sequence's initial hidden state, so
`Q(t, 1) = t (t + 1) / 2` (every step recomputed from the start) and, with unlimited memory,
BPTT-HSM costs `2t - 1` and BPTT-ISM costs `t`, as standard BPTT.

    >>> hsm_cost(1000, 50)
    2948
    >>> policy(5, 2).cost == hsm_cost(5, 2)
    True
"""

import dataclasses

import numpy as np
import tensorflow as tf

from tfgen.checks import check_choice, check_int

KINDS = ("hsm", "ism", "msm")

# Operations of a schedule, one row `(op, slot, step)` each (see `Policy`).
LOAD, FORWARD, STORE_HIDDEN, BACKWARD, FREE, STORE_INTERNAL, BACKWARD_INTERNAL = range(7)
_SWEEP, _HIDDEN, _INTERNAL = range(3)


def _shifted(rows, shift):
    """`out[:, j] = rows[:, j - shift]` where `j - shift >= 1`, else inf (too little memory)."""
    out = np.full_like(rows, np.inf)
    width = rows.shape[1] - 1 - shift
    if width > 0:
        out[:, shift + 1 :] = rows[:, 1 : 1 + width]
    return out


_TABLES = {}


def _optimum(t, m, kind, alpha):
    """The DP tables covering `(t, m)` and the budget to read them at.

    More slots than can ever be used (t hidden states; h_0 and t internal states) change
    nothing, so `m` is capped. One table per `(kind, alpha)` is kept and grown on demand: an
    entry `Q[n, k]` does not depend on the table's size.
    """
    m = min(m, t if kind == "hsm" else 1 + alpha * t)
    tables = _TABLES.get((kind, alpha))
    if tables is None or tables[0].shape[0] <= t or tables[0].shape[1] <= m:
        size = (t, m) if tables is None else np.maximum((t, m), np.subtract(tables[0].shape, 1))
        tables = _TABLES[(kind, alpha)] = _solve(int(size[0]), int(size[1]), kind, alpha)
    return tables, m


def _solve(t, m, kind, alpha):
    """Optimal costs `Q[n, k]` for `n <= t` steps and `k <= m` slots, the argmin `y` and store.

    Vectorised over `y` and `k`: one numpy expression per sequence length `n`.
    """
    cost = np.full((t + 1, m + 1), np.inf)
    cost[0] = 0.0  # Q(0, m) = 0
    split = np.zeros((t + 1, m + 1), np.int64)
    store = np.zeros((t + 1, m + 1), np.int64)
    for n in range(1, t + 1):
        # 1606.03401 BPTT-HSM: Q(t, 1) = t (t + 1) / 2, recompute every step from the start.
        best = np.full(m + 1, n * (n + 1) / 2.0)
        best[0] = np.inf
        best_y = np.full(m + 1, n)
        best_store = np.full(m + 1, _SWEEP)
        y = np.arange(1, n)
        candidates = []
        if kind != "ism" and n > 1:
            # 1606.03401 BPTT-HSM: Q(t, m) = min_y [y + Q(t - y, m - 1) + Q(y, m)].
            candidates.append((y, y[:, None] + _shifted(cost[n - y], 1) + cost[y], _HIDDEN))
        if kind != "hsm":
            # 1606.03401 BPTT-ISM: Q(t, m) = min_y [y + Q(t - y, m - alpha) + Q(y - 1, m)];
            # y = t stores nothing: the last step's internal state is still in working memory.
            inner = y[:, None] + _shifted(cost[n - y], alpha) + cost[y - 1]
            last = (n + cost[n - 1])[None]
            candidates.append((np.append(y, n), np.concatenate([inner, last]), _INTERNAL))
        for ys, totals, kind_code in candidates:
            index = np.argmin(totals, axis=0)
            value = totals[index, np.arange(m + 1)]
            better = value < best
            best = np.where(better, value, best)
            best_y = np.where(better, ys[index], best_y)
            best_store = np.where(better, kind_code, best_store)
        cost[n], split[n], store[n] = best, best_y, best_store
    return cost, split, store


def _check(t, m, kind="hsm", alpha=1):
    t, m = check_int(t, "t"), check_int(m, "m")
    check_choice(kind, "kind", KINDS)
    if kind == "hsm":
        alpha = 1 if alpha is None else alpha
    elif alpha is None:
        raise ValueError(f"alpha: kind={kind!r} needs alpha, the internal/hidden size ratio.")
    return t, m, kind, check_int(alpha, "alpha")


def _cost(t, m, kind, alpha):
    """The optimal cost of `kind` from the DP table, after checking the arguments."""
    t, m, kind, alpha = _check(t, m, kind, alpha)
    (cost, _, _), budget = _optimum(t, m, kind, alpha)
    return int(cost[t, budget])


def hsm_cost(t, m):
    """The optimal BPTT-HSM cost `Q(t, m)` (1606.03401).

    Args:
      t: int >= 1, the sequence length.
      m: int >= 1, memory slots of one hidden state each, the initial hidden state's included.

    Returns:
      The least number of forward evaluations of the core (int) that backpropagates through
      `t` steps storing at most `m` hidden states at once.
    """
    return _cost(t, m, "hsm", None)


def ism_cost(t, m, alpha):
    """The optimal BPTT-ISM cost (1606.03401): only internal states are stored.

    Args:
      t: int >= 1, the sequence length.
      m: int >= 1, memory slots (in hidden-state sizes), the initial hidden state's included.
      alpha: int >= 1, slots one internal state takes (the paper's ratio of the internal state
        size to the hidden state size, rounded up).

    Returns:
      The least number of forward evaluations of the core (int).
    """
    return _cost(t, m, "ism", alpha)


def msm_cost(t, m, alpha):
    """The optimal BPTT-MSM cost (1606.03401): hidden or internal states, chosen per split.

    Args:
      t: int >= 1, the sequence length.
      m: int >= 1, memory slots (in hidden-state sizes), the initial hidden state's included.
      alpha: int >= 1, slots one internal state takes.

    Returns:
      The least number of forward evaluations of the core (int).
    """
    return _cost(t, m, "msm", alpha)


@dataclasses.dataclass(frozen=True, eq=False)
class Policy:
    """An optimal execution policy, as the flat schedule the executor runs.

    `schedule` is an int32 array [n, 3] of rows `(op, slot, step)`; `working` is the state the
    executor holds, `g` the gradient of the loss with respect to the hidden state after the
    last step not yet backpropagated:

    * `LOAD s p`: working <- h_p, read from slot `s` (hidden, or internal: it holds h_p too).
    * `FORWARD -1 p`: run the core from the working state up to h_p (p minus the working
      position evaluations).
    * `STORE_HIDDEN s p`: slot `s` <- h_p (one slot).
    * `STORE_INTERNAL s p`: evaluate step p from h_{p-1}, keep its internal state in slot `s`
      (`alpha` slots); working <- h_p (one evaluation).
    * `BACKWARD -1 p`: recompute step p from working = h_{p-1} and backpropagate through it
      (one evaluation).
    * `BACKWARD_INTERNAL s p`: backpropagate through step p from slot `s` (no evaluation).
    * `FREE s p`: release slot `s`.

    Slot 0 holds h_0 from the start. Attributes: `kind`, `t`, `m`, `alpha`, `cost` (the DP's
    optimum, equal to the schedule's evaluations) and `schedule`.
    """

    kind: str
    t: int
    m: int
    alpha: int
    cost: int
    schedule: np.ndarray

    @property
    def uses_internal_states(self):
        return bool(np.isin(self.schedule[:, 0], [STORE_INTERNAL, BACKWARD_INTERNAL]).any())


def policy(t, m, kind="hsm", alpha=None):
    """The optimal policy for `t` steps and `m` slots (1606.03401).

    Args:
      t: int >= 1, the sequence length.
      m: int >= 1, memory slots (in hidden-state sizes), the initial hidden state's included.
      kind: "hsm" (hidden states only), "ism" (internal states only) or "msm" (both).
      alpha: int >= 1, slots one internal state takes; needed for "ism" and "msm".

    Returns:
      A `Policy`, whose `schedule` stays within `m` slots at every moment.
    """
    t, m, kind, alpha = _check(t, m, kind, alpha)
    (cost, split, store), budget = _optimum(t, m, kind, alpha)
    rows = []
    tasks = [("node", 0, 0, t, budget, 1)]  # (start slot, start position, length, budget, free id)
    while tasks:
        task = tasks.pop()
        if task[0] == "row":
            rows.append(task[1])
            continue
        _, slot, start, n, budget, free = task
        if n == 0:
            continue
        y, how = int(split[n, budget]), int(store[n, budget])
        if how == _SWEEP:
            for i in range(n, 0, -1):
                rows += [(LOAD, slot, start), (FORWARD, -1, start + i - 1)]
                rows.append((BACKWARD, -1, start + i))
            continue
        rows.append((LOAD, slot, start))
        if how == _HIDDEN:
            rows += [(FORWARD, -1, start + y), (STORE_HIDDEN, free, start + y)]
            later = [
                ("node", free, start + y, n - y, budget - 1, free + 1),
                ("row", (FREE, free, start + y)),
                ("node", slot, start, y, budget, free),
            ]
        elif y == n:
            rows += [(FORWARD, -1, start + n - 1), (BACKWARD, -1, start + n)]
            later = [("node", slot, start, n - 1, budget, free)]
        else:
            rows += [(FORWARD, -1, start + y - 1), (STORE_INTERNAL, free, start + y)]
            later = [
                ("node", free, start + y, n - y, budget - alpha, free + 1),
                ("row", (BACKWARD_INTERNAL, free, start + y)),
                ("row", (FREE, free, start + y)),
                ("node", slot, start, y - 1, budget, free),
            ]
        tasks += later[::-1]
    schedule = np.asarray(rows, np.int32).reshape(-1, 3)
    return Policy(kind, t, m, alpha, int(cost[t, budget]), schedule)


def schedule_evaluations(schedule):
    """Forward evaluations of the core a schedule makes (the DP's cost of its policy)."""
    count, position = 0, 0
    for op, _, step in np.asarray(schedule):
        if op == LOAD:
            position = step
        elif op == FORWARD:
            count, position = count + step - position, step
        elif op in (BACKWARD, STORE_INTERNAL):
            count, position = count + 1, step
    return count


class _Executor:
    """Runs a schedule for one batch: the core, the readout, the per-step loss."""

    def __init__(self, cell, readout, inputs, targets, loss_fn):
        self.cell, self.readout, self.loss_fn = cell, readout, loss_fn
        # Time-major [T, batch, ...].
        self.inputs = tf.nest.map_structure(_time_major, inputs)
        self.targets = _time_major(targets)
        self.length = tf.nest.flatten(self.inputs)[0].shape[0]
        batch = tf.shape(tf.nest.flatten(self.inputs)[0])[1]
        dtype = tf.nest.flatten(self.inputs)[0].dtype
        self.initial = [
            tf.convert_to_tensor(s)
            for s in tf.nest.flatten(cell.get_initial_state(batch_size=batch, dtype=dtype))
        ]
        if not cell.built or not readout.built:
            output, _ = cell(self._input(1), self.initial)
            readout(output)
        self.variables = cell.trainable_variables + readout.trainable_variables

    def _input(self, step):
        """The input of step `step` (1-based)."""
        return tf.nest.map_structure(lambda x: tf.gather(x, step - 1), self.inputs)

    def _step(self, state, step):
        output, new_state = self.cell(self._input(step), list(state))
        return output, tf.nest.flatten(new_state)

    def forward(self, state, position, target):
        """h_target from h_position (`state`): a forward run of the core, nothing kept."""

        def body(step, state):
            return step + 1, self._step(state, step + 1)[1]

        _, state = tf.while_loop(
            lambda step, _: step < target, body, (position, state), maximum_iterations=self.length
        )
        return state

    def taped_step(self, state, step):
        """Evaluates step `step` from h_{step-1}; the tape keeps its internal state."""
        tape = tf.GradientTape(persistent=True)
        with tape:
            tape.watch(state)
            output, new_state = self._step(state, step)
            prediction = self.readout(output)
            target = tf.gather(self.targets, step - 1)
            loss = tf.reduce_mean(self.loss_fn(target, prediction)) / self.length
        return tape, state, new_state, loss

    def backward(self, taped, g_state):
        """One step's vector-Jacobian product: (g wrt h_{p-1}, g wrt the variables, loss_p)."""
        tape, state, new_state, loss = taped
        grads = tape.gradient(
            [loss, *new_state],
            [state, self.variables],
            output_gradients=[tf.ones_like(loss), *g_state],
            unconnected_gradients=tf.UnconnectedGradients.ZERO,
        )
        return grads[0], grads[1], loss


def _time_major(x):
    x = tf.convert_to_tensor(x)
    return tf.transpose(x, [1, 0, *range(2, x.shape.rank)])


def _run_in_loop(ex, schedule):
    """Hidden-state schedules: one `tf.while_loop` over the rows (graph size constant in t)."""
    # One TensorArray per state tensor: a store overwrites one slot in place.
    size = int(schedule[:, 1].max() + 1)
    slots = [
        tf.TensorArray(s.dtype, size, clear_after_read=False, element_shape=s.shape).write(0, s)
        for s in ex.initial
    ]
    rows = tf.constant(schedule)
    zeros_g = [tf.zeros_like(s) for s in ex.initial]
    zeros_v = [tf.zeros_like(v) for v in ex.variables]

    def body(i, position, working, slots, g_state, grads, evaluations, loss):
        op, slot, step = rows[i, 0], rows[i, 1], rows[i, 2]
        keep = (position, working, slots, g_state, grads, evaluations, loss)

        def load():
            return (step, [s.read(slot) for s in slots], *keep[2:])

        def forward():
            state = ex.forward(working, position, step)
            return (step, state, slots, g_state, grads, evaluations + step - position, loss)

        def store():
            stored = [s.write(slot, w) for s, w in zip(slots, working)]
            return (position, working, stored, *keep[3:])

        def backward():
            g_prev, g_vars, loss_p = ex.backward(ex.taped_step(working, step), g_state)
            summed = [a + b for a, b in zip(grads, g_vars)]
            return (step - 1, working, slots, g_prev, summed, evaluations + 1, loss + loss_p)

        branches = {LOAD: load, FORWARD: forward, STORE_HIDDEN: store, BACKWARD: backward}
        branches[FREE] = lambda: keep
        out = tf.switch_case(op, [branches[k] for k in range(FREE + 1)])
        return (i + 1, *out)

    init = (0, 0, ex.initial, slots, zeros_g, zeros_v, 0, tf.zeros([]))
    out = tf.while_loop(
        lambda i, *_: i < len(schedule), body, init, maximum_iterations=len(schedule)
    )
    return out[7], out[5], out[6]


def _run_unrolled(ex, schedule):
    """Schedules with internal states: rows unrolled at trace time, internal states on tapes.

    Each row waits on the previous gradient (control dependencies), so that a graph runs the
    rows in the schedule's order and holds only the states the policy stores.
    """
    slots = {0: ("hidden", 0, ex.initial)}
    position, working = 0, ex.initial
    g_state = [tf.zeros_like(s) for s in ex.initial]
    grads = [tf.zeros_like(v) for v in ex.variables]
    evaluations, loss = 0, tf.zeros([])
    for op, slot, step in schedule.tolist():
        with tf.control_dependencies(g_state):
            working = [tf.identity(w) for w in working]
        if op == LOAD:
            position, working = step, slots[slot][-1]
            if slots[slot][0] == "internal":
                working = slots[slot][1][2]
        elif op == FORWARD:
            working = ex.forward(working, position, step)
            evaluations, position = evaluations + step - position, step
        elif op == STORE_HIDDEN:
            slots[slot] = ("hidden", step, working)
        elif op == STORE_INTERNAL:
            taped = ex.taped_step(working, step)
            slots[slot] = ("internal", taped)
            working, position, evaluations = taped[2], step, evaluations + 1
        elif op in (BACKWARD, BACKWARD_INTERNAL):
            if op == BACKWARD:
                taped, evaluations = ex.taped_step(working, step), evaluations + 1
            else:
                taped = slots[slot][1]
            g_state, g_vars, loss_p = ex.backward(taped, g_state)
            grads, loss = [a + b for a, b in zip(grads, g_vars)], loss + loss_p
        elif op == FREE:
            del slots[slot]
    return loss, grads, tf.constant(evaluations)


def msm_gradients(cell, readout, inputs, targets, loss_fn, policy):
    """Loss and exact BPTT gradients computed under a memory-saving `policy` (1606.03401).

    The sequence loss is the mean over the `T` steps of `loss_fn(targets_t, readout(o_t))`,
    where `o_t` is the cell's output at step `t` from a zero initial state. Hidden-state
    policies run as one `tf.while_loop` over the schedule; policies that store internal states
    unroll the schedule at trace time (each stored internal state is a live `GradientTape`).
    Deterministic cells only: a recomputed step must give the same result as the first pass.

    Args:
      cell: a Keras RNN cell, `cell(inputs_t, states) -> (output, new_states)`.
      readout: a Keras layer applied to each step's output (e.g. `tf.keras.layers.Dense`).
      inputs: float tensor [batch, T, ...] (or a nest of them).
      targets: tensor [batch, T, ...], the targets of the readout.
      loss_fn: callable `(targets_t, predictions_t) -> loss`, e.g. a `tf.keras.losses.Loss` or
        `tf.keras.losses.mean_squared_error`; a per-example loss is averaged over the batch.
      policy: a `Policy` for `t = T`.

    Returns:
      `(loss, grads, evaluations)`: the scalar loss, the gradients with respect to
      `cell.trainable_variables + readout.trainable_variables` (a list, in that order) and the
      number of forward evaluations of the cell (int32 scalar, equal to `policy.cost`).
    """
    if not isinstance(policy, Policy):
        raise TypeError(f"policy: expected a Policy from policy(...), got {policy!r}.")
    ex = _Executor(cell, readout, inputs, targets, loss_fn)
    if ex.length != policy.t:
        raise ValueError(f"policy: made for t = {policy.t}, the inputs have T = {ex.length}.")
    run = _run_unrolled if policy.uses_internal_states else _run_in_loop
    return run(ex, policy.schedule)


@tf.keras.saving.register_keras_serializable(package="tfgen")
class BPTTMSMModel(tf.keras.Model):
    """A recurrent cell and a per-step readout, trained by `fit` with memory-efficient BPTT.

    `call` runs the cell over the sequence (`tf.keras.layers.RNN`) and applies the readout at
    every step. `train_step` computes the exact BPTT gradients under the optimal policy for
    `memory_slots` slots (1606.03401) with `msm_gradients`; the loss given to `compile` is
    applied per step and averaged over the steps (for mean-reduced losses, the same number as
    Keras's own loss over the whole sequence).

    Args:
      cell: a Keras RNN cell.
      readout: a Keras layer applied to each step's output.
      memory_slots: int >= 1, the paper's `m`.
      kind: "hsm", "ism" or "msm".
      alpha: int >= 1, slots per internal state ("ism", "msm").

    Call arguments:
      inputs: float tensor [batch, T, features].

    Returns:
      The readout at every step, [batch, T, ...readout features].
    """

    def __init__(self, cell, readout, memory_slots, kind="hsm", alpha=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(cell, dict):
            cell = tf.keras.layers.deserialize(cell)
        if isinstance(readout, dict):
            readout = tf.keras.layers.deserialize(readout)
        self.memory_slots, self.kind, self.alpha = memory_slots, kind, alpha
        _check(1, memory_slots, kind, alpha)
        self.cell, self.readout = cell, readout
        self.rnn = tf.keras.layers.RNN(cell, return_sequences=True)
        self.loss_tracker = tf.keras.metrics.Mean("loss")

    def call(self, inputs):
        return self.readout(self.rnn(inputs))

    @property
    def metrics(self):
        return [self.loss_tracker]

    def train_step(self, data):
        inputs, targets = data[:2]
        length = tf.nest.flatten(inputs)[0].shape[1]
        plan = policy(length, self.memory_slots, self.kind, self.alpha)
        loss_fn = tf.keras.losses.get(self.loss)
        loss, grads, _ = msm_gradients(self.cell, self.readout, inputs, targets, loss_fn, plan)
        variables = self.cell.trainable_variables + self.readout.trainable_variables
        self.optimizer.apply_gradients(zip(grads, variables))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def get_config(self):
        config = super().get_config()
        config.update(
            cell=tf.keras.layers.serialize(self.cell),
            readout=tf.keras.layers.serialize(self.readout),
            memory_slots=self.memory_slots,
            kind=self.kind,
            alpha=self.alpha,
        )
        return config
