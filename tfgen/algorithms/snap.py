"""SnAp: sparse n-step approximations of Real Time Recurrent Learning (arXiv 2006.07232).

A recurrent core `s_t = f_theta(s_{t-1}, x_t)` has the influence matrix
`J_t = ds_t / dtheta`, which RTRL carries forward in time (2006.07232 Sec. 2):

    J_t = I_t + D_t J_{t-1},    I_t = ds_t / dtheta_t,    D_t = ds_t / ds_{t-1},

and the gradient of the loss at step t is `dL_t/dtheta = dL_t/ds_t J_t`, available
at every step, so parameters can be updated online. Dense RTRL stores `|s| x p`
numbers and costs `|s|^2 p` per step (`k^4` for a dense network of k units).
SnAp-n (Sec. 3) keeps only the entries (state unit i, parameter theta) where
theta reaches unit i within n steps of the recurrent graph,

    J_t ~= (I_t + D_t J_{t-1}) * M_n,

`M_1` being the pattern of `I_t` (for these cells: each unit's own incoming
weights, O(p) numbers like BPTT per step) and `M_{n+1} = M_1 | A M_n` with `A`
the pattern of `D_t`. SnAp-n is RTRL once n reaches the graph's diameter. In a
dense network SnAp-2 is already dense; with sparse weights it stays sparse.

The cells are `tfgen.layers.SparseRecurrentCell`s: vanilla RNN (tanh), GRU and
LSTM with Keras's own equations and weight layout, optionally with fixed binary
masks on the weight matrices.

- `SnAp`: the influence update and the online gradient for SnAp-n or RTRL.
- `snap_pattern`: the boolean pattern `M_n` of a cell.
- `OnlineTrainer`: per-step parameter updates with a Keras optimizer.
- `TruncatedBPTTTrainer`: the truncated-BPTT baseline of equal cost per step.
"""

import numpy as np
import tensorflow as tf

from tfgen.checks import check_int
from tfgen.layers.sparse_recurrent import SparseRecurrentCell

# 2006.07232 Sec. 3: which gate blocks each state component depends on within one step
# (LSTM state (h, c) in that order; c_t = f c + i g does not see the output gate o).
_GATE_REACH = {
    "rnn": np.array([[True]]),
    "gru": np.array([[True, True, True]]),
    "lstm": np.array([[True, True, True, True], [True, True, True, False]]),
}
# Which state components of the same unit each component depends on directly (not through
# the recurrent weights): GRU h_t = z h_{t-1} + ..., LSTM c_t = f c_{t-1} + ..., h_t = o tanh(c_t).
_DIRECT = {
    "rnn": np.array([[False]]),
    "gru": np.array([[True]]),
    "lstm": np.array([[False, True], [False, True]]),
}


def _parameter_structure(cell):
    """Per entry of theta (flat, in `cell.parameters` order): owning unit, gate, mask."""
    k = cell.units
    kernel_mask, recurrent_mask = cell.unit_masks()
    units, gates, kept = [], [], []
    for weight, mask in zip(cell.parameters, (kernel_mask, recurrent_mask, None)):
        column = np.broadcast_to(np.arange(weight.shape[-1]), weight.shape).ravel()
        units.append(column % k)
        gates.append(column // k)
        if mask is None:
            kept.append(np.ones(column.size, bool))
        else:
            kept.append(np.tile(mask, [1, cell.num_gates]).ravel() > 0)
    return np.concatenate(units), np.concatenate(gates), np.concatenate(kept)


def dynamics_pattern(cell):
    """The pattern A of the immediate Jacobian D_t = ds_t/ds_{t-1}, bool `[C k, C k]`.

    State index `c k + i` is component c (0: h, 1: c for the LSTM) of unit i.
    `A[(c, i), (c', m)]` holds where s_{t-1,(c',m)} enters s_{t,(c,i)} in one step:
    directly within unit i, or through the recurrent weight from h_m to unit i.
    """
    _, recurrent_mask = cell.unit_masks()
    k, components = cell.units, cell.num_components
    direct = np.kron(_DIRECT[cell.cell_kind], np.eye(k, dtype=bool))
    through_weights = np.zeros([components * k, components * k], bool)
    through_weights[:, :k] = np.tile(recurrent_mask.T > 0, [components, 1])
    return direct | through_weights


def snap_pattern(cell, n):
    """The SnAp-n pattern M_n (2006.07232 Sec. 3), bool `[C k, p]`.

    `M_1[(c, i), theta]`: theta is one of unit i's own (unmasked) incoming
    weights or biases in a gate that state component c sees within one step,
    i.e. the pattern of I_t. `M_{n+1} = M_1 | A M_n`, A = `dynamics_pattern`.

    Args:
      cell: a built `SparseRecurrentCell`.
      n: int >= 1, or None for RTRL's pattern (iterated until it stops growing).

    Returns:
      NumPy bool `[C k, p]`, rows ordered as in `dynamics_pattern`.
    """
    units, gates, kept = _parameter_structure(cell)
    k = cell.units
    state_unit = np.tile(np.arange(k), cell.num_components)
    state_component = np.repeat(np.arange(cell.num_components), k)
    reach = _GATE_REACH[cell.cell_kind][state_component][:, gates]
    first = (state_unit[:, None] == units[None, :]) & reach & kept[None, :]
    dynamics = dynamics_pattern(cell).astype(np.float32)
    pattern, steps = first, 1
    while n is None or steps < n:
        grown = first | (dynamics @ pattern.astype(np.float32) > 0)
        steps += 1
        if n is None and np.array_equal(grown, pattern):
            break
        pattern = grown
    return pattern


def _gather_tables(pattern, dynamics, components, num_params):
    """Index tables of the gathered SnAp-n influence (rows padded to the longest).

    Returns:
      `(thetas [S, Q], sources [S, Q], neighbours [S, R], positions [S, Q, R])`:
      the parameters kept in each row (p pads), the index of each entry's I_t value
      in the flat `[C (p + 1)]` local influence, the flat index of `D[s, s']` for each
      row's in-neighbours s' (S S pads, a zero), and where theta sits in row s' of
      the flat `[S Q]` influence (S Q where it is absent: a zero).
    """
    states = pattern.shape[0]
    rows = [np.flatnonzero(row) for row in pattern]
    width = max(len(row) for row in rows)
    thetas = np.full([states, width], num_params, np.int64)
    for s, row in enumerate(rows):
        thetas[s, : len(row)] = row
    component = np.arange(states) // (states // components)
    sources = component[:, None] * (num_params + 1) + thetas
    ins = [np.flatnonzero(row) for row in dynamics]
    degree = max(len(row) for row in ins)
    neighbour = np.full([states, degree], states, np.int64)
    for s, row in enumerate(ins):
        neighbour[s, : len(row)] = row
    slot = np.full([states + 1, num_params + 1], -1, np.int64)
    for s, row in enumerate(rows):
        slot[s, row] = np.arange(len(row))
    found = slot[neighbour[:, None, :], thetas[:, :, None]]
    positions = np.where(found >= 0, neighbour[:, None, :] * width + found, states * width)
    rows_start = np.arange(states)[:, None] * states
    neighbours = np.where(neighbour < states, rows_start + neighbour, states * states)
    return thetas, sources, neighbours, positions


class SnAp:
    """Online influence-matrix gradients: SnAp-n or full RTRL (arXiv 2006.07232).

    Carries the influence `J_t = ds_t/dtheta` of a `SparseRecurrentCell` forward:
    `J_t = (I_t + D_t J_{t-1}) * M_n` (Sec. 3), `I_t` and `D_t` from the cell's own
    equations by automatic differentiation of its elementwise state update. Three
    storages, by n:

    - `n=1`: SnAp-1, one number per (state component, unmasked parameter), the
      parameter's own unit implied: `[batch, C, p]`, O(p) like a BPTT step.
    - `n>=2`: SnAp-n, the kept entries of each state's row gathered: `[batch, C k, Q]`,
      Q the longest row of `snap_pattern(cell, n)`.
    - `n=None`: RTRL, dense `[batch, C k, p]` (small networks only: `k^4` per step).

    Args:
      cell: a `SparseRecurrentCell`, or a Keras `SimpleRNNCell`, `GRUCell` or
        `LSTMCell` (run through a dense `SparseRecurrentCell.sharing` its weights).
      input_dim: int, the input size (the cell is built with it if it is not built).
      n: int >= 1, or None for RTRL.

    Example:

    >>> snap = SnAp(SparseRecurrentCell("gru", 16, sparsity=0.75), input_dim=2, n=2)
    >>> states, influence = snap.initial_state(4), snap.initial_influence(4)
    >>> states, influence = snap.step(tf.ones([4, 2]), states, influence)
    >>> grads = snap.gradients(tf.ones([4, 1, 16]), influence)  # dL_t/ds_t = 1
    >>> [g.shape.as_list() for g in grads]  # as kernel, recurrent_kernel, bias
    [[2, 48], [16, 48], [2, 48]]
    """

    def __init__(self, cell, input_dim, n=1):
        self.input_dim = check_int(input_dim, "input_dim")
        if not isinstance(cell, SparseRecurrentCell):
            cell = SparseRecurrentCell.sharing(cell, self.input_dim)
        self.cell = cell
        self.n = None if n is None else check_int(n, "n")
        if not cell.built:
            cell.build(tf.TensorShape([None, self.input_dim]))
        self._units, gates, kept = _parameter_structure(cell)
        self.num_params = self._units.size
        self._kept = tf.constant(kept, tf.float32)
        components = cell.num_components
        if self.n == 1:
            self._kept_index = tf.constant(np.flatnonzero(kept))
            self._kept_units = tf.constant(self._units[kept])
            reach = _GATE_REACH[cell.cell_kind][:, gates[kept]]
            self._first = tf.constant(reach, tf.float32)  # M_1 per component, [C, p kept]
        elif self.n is not None:
            self.pattern = snap_pattern(cell, self.n)
            thetas, sources, neighbours, positions = _gather_tables(
                self.pattern, dynamics_pattern(cell), components, self.num_params
            )
            own = (
                self._units[np.minimum(thetas, self.num_params - 1)]
                == np.tile(np.arange(cell.units), components)[:, None]
            )
            self._thetas = tf.constant(thetas)
            self._sources = tf.constant(sources)
            self._own = tf.constant(own & (thetas < self.num_params), tf.float32)
            self._neighbours = tf.constant(neighbours)
            self._positions = tf.constant(positions)

    @property
    def state_dim(self):
        """S = C k, the length of the state vector."""
        return self.cell.num_components * self.cell.units

    def influence_shape(self, batch_size):
        """The shape of the stored influence for `batch_size` sequences."""
        if self.n == 1:
            return [batch_size, self.cell.num_components, int(self._kept_index.shape[0])]
        if self.n is None:
            return [batch_size, self.state_dim, self.num_params]
        return [batch_size, self.state_dim, int(self._thetas.shape[1])]

    def influence_entries(self):
        """Numbers stored per sequence (padding included for SnAp-n, n >= 2)."""
        return int(np.prod(self.influence_shape(1)))

    def initial_influence(self, batch_size):
        """J_0 = 0."""
        return tf.zeros(self.influence_shape(batch_size))

    def initial_state(self, batch_size):
        """s_0 = 0, a list of C float `[batch, k]`."""
        return [tf.zeros([batch_size, self.cell.units]) for _ in range(self.cell.num_components)]

    def _local_derivatives(self, inputs, states):
        """s_t and the one-step derivatives of the elementwise update (2006.07232 Sec. 2).

        Returns:
          `(new_states, local, direct, d_recurrent)`: the list of C `[B, k]`; the
          immediate influence of each parameter on its own unit's C state
          components, `[B, C, p]` (I_t, compactly); `ds_t/ds_{t-1}` within each
          unit, not through the weights, `[B, C, C, k]`; `ds_t/d(h_{t-1} U)`,
          `[B, C, G k]`.
        """
        cell = self.cell
        z_kernel, z_recurrent, z_bias = cell.linear_terms(inputs, states[0])
        terms = [z_kernel, z_recurrent, z_bias, *states]
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(terms)
            new_states = cell.combine(states, z_kernel, z_recurrent, z_bias)
            totals = [tf.reduce_sum(s) for s in new_states]
        zero = tf.UnconnectedGradients.ZERO
        per_component = [
            tape.gradient(total, terms, unconnected_gradients=zero) for total in totals
        ]
        del tape
        d_kernel, d_recurrent, d_bias = (
            tf.stack([grads[j] for grads in per_component], 1) for j in range(3)
        )
        direct = tf.stack([tf.stack(grads[3:], 1) for grads in per_component], 1)
        shape = [tf.shape(inputs)[0], cell.num_components, -1]
        # 2006.07232 Sec. 2: I_t for W[m, j] is ds_j/dz_j u_m, u = x_t, h_{t-1} or 1.
        local = tf.concat(
            [
                tf.reshape(d_kernel[:, :, None, :] * inputs[:, None, :, None], shape),
                tf.reshape(d_recurrent[:, :, None, :] * states[0][:, None, :, None], shape),
                tf.reshape(d_bias, shape),
            ],
            -1,
        )
        return new_states, local * self._kept, direct, d_recurrent

    def _recurrent_blocks(self, d_recurrent):
        """`ds_t/d(h_{t-1} U)` as `[B, C, G, k]` and the masked U as `[k (from), G, k (to)]`."""
        cell = self.cell
        k, gates = cell.units, cell.num_gates
        recurrent_kernel = tf.reshape(cell.effective_weights()[1], [k, gates, k])
        return tf.reshape(d_recurrent, [-1, cell.num_components, gates, k]), recurrent_kernel

    def _self_dynamics(self, direct, d_recurrent):
        """The unit-diagonal blocks of D_t, `[B, C, C, k]`: `ds_(c,i) / ds_(c',i)`."""
        d_gates, recurrent_kernel = self._recurrent_blocks(d_recurrent)
        self_weights = tf.linalg.diag_part(tf.transpose(recurrent_kernel, [1, 0, 2]))
        through = tf.einsum("bcgi,gi->bci", d_gates, self_weights)
        return direct + tf.pad(
            through[:, :, None], [[0, 0], [0, 0], [0, direct.shape[2] - 1], [0, 0]]
        )

    def _dynamics(self, direct, d_recurrent):
        """The immediate Jacobian D_t = ds_t/ds_{t-1}, dense `[B, S, S]` (2006.07232 Eq. 3)."""
        components, k = self.cell.num_components, self.cell.units
        d_gates, recurrent_kernel = self._recurrent_blocks(d_recurrent)
        through = tf.einsum("bcgi,mgi->bcim", d_gates, recurrent_kernel)
        through = tf.pad(through, [[0, 0], [0, 0], [0, 0], [0, (components - 1) * k]])
        within = tf.transpose(tf.linalg.diag(direct), [0, 1, 3, 2, 4])
        batch = tf.shape(direct)[0]
        within = tf.reshape(within, [batch, components, k, components * k])
        return tf.reshape(within + through, [batch, self.state_dim, self.state_dim])

    def step(self, inputs, states, influence):
        """One step of the cell and of its influence matrix.

        Args:
          inputs: float `[batch, input_dim]`, x_t.
          states: list of C float `[batch, k]`, s_{t-1}.
          influence: float `influence_shape(batch)`, J_{t-1}.

        Returns:
          `(new_states, new_influence)`: s_t and J_t.
        """
        new_states, local, direct, d_recurrent = self._local_derivatives(inputs, states)
        if self.n == 1:
            # 2006.07232 Sec. 3, SnAp-1: J_t = (I_t + D_t J_{t-1}) * M_1 keeps each
            # parameter's own unit, so only D_t's unit-diagonal blocks act.
            blocks = tf.gather(self._self_dynamics(direct, d_recurrent), self._kept_units, axis=3)
            carried = tf.reduce_sum(blocks * influence[:, None], axis=2)
            local = tf.gather(local, self._kept_index, axis=2)
            return new_states, (local + carried) * self._first
        dynamics = self._dynamics(direct, d_recurrent)
        batch = tf.shape(inputs)[0]
        if self.n is None:
            # 2006.07232 Eq. 3, RTRL: J_t = I_t + D_t J_{t-1}, dense.
            own = tf.one_hot(self._units, self.cell.units, axis=0)  # [k, p]
            immediate = tf.reshape(local[:, :, None, :] * own, tf.shape(influence))
            return new_states, immediate + tf.matmul(dynamics, influence)
        # 2006.07232 Sec. 3, SnAp-n: the same update on the kept entries, gathered.
        pad = tf.zeros([batch, 1])
        local = tf.reshape(tf.pad(local, [[0, 0], [0, 0], [0, 1]]), [batch, -1])
        immediate = tf.gather(local, self._sources, axis=1) * self._own
        dynamics = tf.concat([tf.reshape(dynamics, [batch, -1]), pad], 1)
        neighbours = tf.gather(dynamics, self._neighbours, axis=1)
        previous = tf.concat([tf.reshape(influence, [batch, -1]), pad], 1)
        previous = tf.gather(previous, self._positions, axis=1)
        return new_states, immediate + tf.einsum("bsr,bsqr->bsq", neighbours, previous)

    def gradients(self, delta, influence):
        """dL_t/dtheta = dL_t/ds_t J_t (2006.07232 Eq. 2), summed over the batch.

        Args:
          delta: float `[batch, C, k]`, dL_t/ds_t (zero for the LSTM's c if the
            loss reads h only).
          influence: J_t from `step`.

        Returns:
          List of tensors shaped as `cell.parameters` (zero at masked weights).
        """
        if self.n == 1:
            kept = tf.reduce_sum(tf.gather(delta, self._kept_units, axis=2) * influence, [0, 1])
            flat = tf.scatter_nd(self._kept_index[:, None], kept, [self.num_params])
        elif self.n is None:
            flat = tf.einsum("bs,bsp->p", tf.reshape(delta, [-1, self.state_dim]), influence)
        else:
            rows = tf.reduce_sum(tf.reshape(delta, [-1, self.state_dim, 1]) * influence, 0)
            flat = tf.math.unsorted_segment_sum(
                tf.reshape(rows, [-1]), tf.reshape(self._thetas, [-1]), self.num_params + 1
            )[:-1]
        sizes = [int(np.prod(w.shape)) for w in self.cell.parameters]
        return [tf.reshape(g, w.shape) for g, w in zip(tf.split(flat, sizes), self.cell.parameters)]

    def dense_influence(self, influence):
        """The stored influence written out as the `[batch, S, p]` matrix J_t (for inspection).

        Rows are state entries `c k + i`, columns the flat parameters theta.
        """
        batch = tf.shape(influence)[0]
        if self.n is None:
            return influence
        if self.n == 1:
            components = self.cell.num_components
            rows = tf.range(components, dtype=tf.int64)[:, None] * self.cell.units
            rows += self._kept_units[None, :]
            columns = tf.broadcast_to(self._kept_index, tf.shape(rows))
        else:
            rows = tf.broadcast_to(
                tf.range(self.state_dim, dtype=tf.int64)[:, None], tf.shape(self._thetas)
            )
            columns = self._thetas
        values = tf.transpose(influence, [1, 2, 0])
        indices = tf.stack([rows, columns], -1)
        shape = [self.state_dim, self.num_params + 1, batch]
        dense = tf.scatter_nd(indices, values, shape)[:, :-1]
        return tf.transpose(dense, [2, 0, 1])

    def get_config(self):
        return {
            "cell": tf.keras.layers.serialize(self.cell),
            "input_dim": self.input_dim,
            "n": self.n,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        cell = tf.keras.layers.deserialize(config.pop("cell"))
        return cls(cell, **config)


def sigmoid_cross_entropy(targets, logits):
    """Bernoulli negative log-likelihood in nats per example, summed over the last axis."""
    return tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(targets, logits), -1)


def _build_trainer_variables(cell, readout, optimizer, input_dim):
    if not cell.built:
        cell.build(tf.TensorShape([None, input_dim]))
    if not readout.built:
        readout.build(tf.TensorShape([None, cell.output_size]))
    sparse = isinstance(cell, SparseRecurrentCell)
    variables = (
        cell.parameters if sparse else cell.trainable_variables
    ) + readout.trainable_variables
    optimizer.build(variables)
    return variables


class OnlineTrainer:
    """Trains a `SparseRecurrentCell` and a readout with an update at every step.

    2006.07232 Sec. 5: at each step t the cell advances, the influence matrix is
    updated (`SnAp.step`), and the gradient of that step's loss, `dL_t/dtheta =
    dL_t/ds_t J_t` for the cell and the ordinary gradient for the readout, is
    applied at once with the Keras optimizer. State and influence start at zero
    for each batch of sequences. The loop over time is one `tf.function`.

    Args:
      snap: a `SnAp` (its cell is trained).
      readout: a Keras layer mapping h_t `[batch, k]` to logits `[batch, ...]`.
      optimizer: a Keras optimizer.
      loss_fn: `loss_fn(targets_t, logits_t)` -> per-example loss `[batch]`
        (default: `sigmoid_cross_entropy`).
    """

    def __init__(self, snap, readout, optimizer, loss_fn=sigmoid_cross_entropy):
        self.snap, self.readout, self.optimizer, self.loss_fn = snap, readout, optimizer, loss_fn
        self.variables = _build_trainer_variables(snap.cell, readout, optimizer, snap.input_dim)
        self._train = tf.function(self._train_on_batch, reduce_retracing=True)

    def _train_on_batch(self, inputs, targets, mask):
        snap, components = self.snap, self.snap.cell.num_components
        batch = tf.shape(inputs)[0]
        states, influence = snap.initial_state(batch), snap.initial_influence(batch)
        total = tf.constant(0.0)
        for t in tf.range(tf.shape(inputs)[1]):
            states, influence = snap.step(inputs[:, t], states, influence)
            with tf.GradientTape() as tape:
                tape.watch(states)
                per_example = self.loss_fn(targets[:, t], self.readout(states[0])) * mask[:, t]
                loss = tf.reduce_sum(per_example) / tf.cast(batch, tf.float32)
            grads = tape.gradient(
                loss,
                states + self.readout.trainable_variables,
                unconnected_gradients=tf.UnconnectedGradients.ZERO,
            )
            cell_grads = snap.gradients(tf.stack(grads[:components], 1), influence)
            self.optimizer.apply_gradients(zip(cell_grads + grads[components:], self.variables))
            total += tf.reduce_sum(per_example)
        return total, tf.reduce_sum(mask)

    def train_on_batch(self, inputs, targets, mask):
        """Runs a batch of sequences with one update per step.

        Args:
          inputs: float `[batch, T, input_dim]`.
          targets: `[batch, T, ...]`, what `loss_fn` takes.
          mask: float `[batch, T]`, 1 where a step has a target.

        Returns:
          `(loss_sum, count)`: the summed masked loss and the number of targets.
        """
        return self._train(inputs, targets, mask)


class TruncatedBPTTTrainer:
    """The baseline: truncated BPTT, one update per window of `truncation` steps.

    Each window runs the cell through `tf.keras.layers.RNN` from the previous
    window's final state (gradients stopped there), and its summed loss is
    backpropagated and applied. Per step it costs one forward and one backward
    step of the cell, as SnAp-1 does; `truncation=1` also updates at every
    step, with the influence of earlier steps dropped.

    Args:
      cell: a `SparseRecurrentCell` (or any Keras RNN cell whose first state is h).
      readout: a Keras layer mapping h_t to logits.
      optimizer: a Keras optimizer.
      truncation: int >= 1, steps per window.
      input_dim: int, the input size (to build the cell).
      loss_fn: as in `OnlineTrainer`.
    """

    def __init__(
        self, cell, readout, optimizer, truncation, input_dim, loss_fn=sigmoid_cross_entropy
    ):
        self.cell, self.readout, self.optimizer, self.loss_fn = cell, readout, optimizer, loss_fn
        self.truncation = check_int(truncation, "truncation")
        self.variables = _build_trainer_variables(cell, readout, optimizer, input_dim)
        self.rnn = tf.keras.layers.RNN(cell, return_sequences=True, return_state=True)
        self.state_sizes = [int(size) for size in tf.nest.flatten(cell.state_size)]
        self._train = tf.function(self._train_on_batch, reduce_retracing=True)

    def _train_on_batch(self, inputs, targets, mask):
        batch = tf.shape(inputs)[0]
        states = [tf.zeros([batch, size]) for size in self.state_sizes]
        total = tf.constant(0.0)
        for start in tf.range(0, tf.shape(inputs)[1], self.truncation):
            window = slice(start, start + self.truncation)
            with tf.GradientTape() as tape:
                outputs, *new_states = self.rnn(inputs[:, window], initial_state=states)
                logits = self.readout(outputs)
                per_step = self.loss_fn(targets[:, window], logits) * mask[:, window]
                loss = tf.reduce_sum(per_step) / tf.cast(batch, tf.float32)
            grads = tape.gradient(loss, self.variables)
            self.optimizer.apply_gradients(zip(grads, self.variables))
            states = [tf.stop_gradient(s) for s in new_states]
            total += tf.reduce_sum(per_step)
        return total, tf.reduce_sum(mask)

    def train_on_batch(self, inputs, targets, mask):
        """As `OnlineTrainer.train_on_batch`, with one update per window."""
        return self._train(inputs, targets, mask)
