"""ACTCell (Adaptive Computation Time, arXiv 1603.08983 Sec. 2) against a NumPy reference.

The reference (`tests/layers/act_reference.py`) is written from the paper's
equations one element and one ponder step at a time; the tests compare the
cell's outputs, states, N(t) and rho_t = N(t) + R(t) with it, check the
halting weights sum to one, the ponder cost's gradient (through R only, with
weight time_penalty / batch) against finite differences, the cap M, XLA, and
training, saving and reloading inside `tf.keras.Sequential`.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from tests.layers import act_reference as ref
from tests.test_case import CellRNN, run_layer_test
from tfgen.layers.act import ACTCell

B, T, D, UNITS = 3, 4, 2, 4


class _OnesOutputCell(tf.keras.layers.Layer):
    """Runs `cell` but outputs ones, so the mean-field output is the sum of the p^n."""

    def __init__(self, cell, **kwargs):
        super().__init__(**kwargs)
        self.cell = cell
        self.state_size = cell.state_size
        self.output_size = 1

    def build(self, input_shape):
        self.cell.build(input_shape)
        super().build(input_shape)

    def call(self, inputs, states):
        output, new_states = self.cell(inputs, states)
        return tf.ones_like(output[:, :1]), new_states


CELLS = {
    "lstm": lambda dtype="float32": tf.keras.layers.LSTMCell(UNITS, dtype=dtype),
    "gru": lambda dtype="float32": tf.keras.layers.GRUCell(UNITS, dtype=dtype),
    "simple_rnn": lambda dtype="float32": tf.keras.layers.SimpleRNNCell(UNITS, dtype=dtype),
    "stacked": lambda dtype="float32": tf.keras.layers.StackedRNNCells(
        [tf.keras.layers.LSTMCell(3, dtype=dtype), tf.keras.layers.GRUCell(UNITS, dtype=dtype)],
        dtype=dtype,
    ),
}


def _inputs(seed=0, batch=B, steps=T, dtype="float32"):
    return np.random.default_rng(seed).normal(size=(batch, steps, D)).astype(dtype)


def _act_layer(cell, **kwargs):
    """RNN(ACTCell(cell, return_ponder=True)) over whole sequences, built for [*, T, D]."""
    dtype = cell.dtype
    layer = tf.keras.layers.RNN(
        ACTCell(cell, return_ponder=True, dtype=dtype, **kwargs),
        return_sequences=True,
        return_state=True,
        dtype=dtype,
    )
    layer(_inputs(dtype=dtype))
    return layer


def _transition(cell):
    kernel, recurrent_kernel, bias = (w.numpy() for w in cell.weights[:3])
    if isinstance(cell, tf.keras.layers.LSTMCell):
        return ref.lstm_transition(kernel, recurrent_kernel, bias)
    return ref.simple_rnn_transition(kernel, recurrent_kernel, bias)


def _reference(layer, xs, initial_states):
    """The NumPy reference run with the layer's weights and settings."""
    act = layer.cell
    w_h, b_h = act.w_h.numpy()[:, 0], act.b_h.numpy()[0]
    transition = _transition(act.cell)
    return ref.act_sequence(
        xs, initial_states, transition, w_h, b_h, act.epsilon, act.max_ponder_steps
    )


@pytest.mark.parametrize("return_ponder", [False, True])
def test_layer_case(return_ponder):
    cell = ACTCell(tf.keras.layers.LSTMCell(UNITS), max_ponder_steps=5, return_ponder=return_ponder)
    shapes = [(B, UNITS), (B, 1), (B, 1)] if return_ponder else (B, UNITS)
    run_layer_test(
        CellRNN,
        init_kwargs={"cell": cell},
        input_data=_inputs(),
        expected_output_shape=shapes,
        expected_num_trainable_weights=5,  # the LSTM's 3, W_h and b_h
    )


def test_paper_defaults():
    cell = ACTCell(tf.keras.layers.LSTMCell(16))
    assert (cell.max_ponder_steps, cell.epsilon, cell.halting_bias) == (100, 0.01, 1.0)
    assert cell.time_penalty == 0.001 and not cell.return_ponder
    tf.keras.layers.RNN(cell)(_inputs())
    np.testing.assert_array_equal(cell.b_h.numpy(), [1.0])  # the initial halting bias b_h
    assert cell.w_h.shape == (32, 1)  # the halting unit reads the LSTM's h and c


@pytest.mark.parametrize("name", ["simple_rnn", "lstm"])
@pytest.mark.parametrize(
    "halting_bias, max_steps, case",
    [(-1.0, 6, "varied"), (1.0, 100, "paper"), (-30.0, 3, "capped")],
)
def test_matches_numpy_reference(name, halting_bias, max_steps, case):
    cell = CELLS[name]("float64")
    layer = _act_layer(cell, halting_bias=halting_bias, max_ponder_steps=max_steps, epsilon=0.05)
    xs = _inputs(seed=1, dtype="float64")
    rng = np.random.default_rng(2)
    initial = [0.5 * rng.normal(size=(B, UNITS)) for _ in tf.nest.flatten(cell.state_size)]
    outputs, costs, steps, *states = layer(xs, initial_state=[tf.constant(s) for s in initial])
    expected = _reference(layer, xs, initial)
    np.testing.assert_allclose(outputs, expected["outputs"], atol=1e-10)
    np.testing.assert_allclose(costs[..., 0], expected["ponder_costs"], atol=1e-10)
    np.testing.assert_array_equal(steps[..., 0], expected["steps"])
    for state, reference_state in zip(states, expected["states"]):
        np.testing.assert_allclose(state, reference_state, atol=1e-10)
    if case == "capped":  # h ~ 0: every step runs to the cap M, and R ~ 1
        np.testing.assert_array_equal(steps, max_steps)
        np.testing.assert_allclose(costs, max_steps + 1.0, atol=1e-9)
    if case == "varied":  # different N(t) within one batch
        assert len(np.unique(expected["steps"])) > 1, expected["steps"]


def test_halting_rule_reference_cases():
    """The reference's Eq. 6-8 on hand-made halting values, so the cell's comparison is sound."""
    assert ref.halting_distribution([0.995], 0.01, 100)[:2] == (1, 1.0)  # one step: R = 1
    n, r, p = ref.halting_distribution([0.3, 0.5, 0.4, 0.9], 0.01, 100)
    assert n == 3 and np.isclose(r, 0.2) and np.allclose(p, [0.3, 0.5, 0.2])
    n, r, p = ref.halting_distribution([0.1, 0.1, 0.1], 0.01, 2)  # capped at M = 2
    assert n == 2 and np.isclose(r, 0.9) and np.allclose(p, [0.1, 0.9])


@pytest.mark.parametrize("name", sorted(CELLS))
def test_halting_weights_sum_to_one(name):
    # Output ones: y_t = sum_n p^n. Biases around 0 and a cap give a spread of N(t).
    act = ACTCell(
        _OnesOutputCell(CELLS[name]()), max_ponder_steps=4, halting_bias=-1.2, return_ponder=True
    )
    layer = tf.keras.layers.RNN(act, return_sequences=True)
    outputs, _, steps = layer(_inputs(batch=8, steps=6) * 3.0)
    np.testing.assert_allclose(outputs, 1.0, atol=1e-6)
    assert len(np.unique(steps)) > 1, np.unique(steps)


def test_one_ponder_step_is_the_inner_cell_with_the_flag():
    """M = 1: N = 1, R = 1, so the output is the inner cell's on [x_t, 1] (Eq. 4)."""
    act = ACTCell(tf.keras.layers.GRUCell(UNITS), max_ponder_steps=1, return_ponder=True)
    act_layer = tf.keras.layers.RNN(act, return_sequences=True)
    xs = _inputs()
    outputs, costs, steps = act_layer(xs)
    plain = tf.keras.layers.RNN(tf.keras.layers.GRUCell(UNITS), return_sequences=True)
    flagged = np.concatenate([xs, np.ones_like(xs[..., :1])], axis=-1)
    plain(flagged)
    plain.set_weights(act.cell.get_weights())
    np.testing.assert_allclose(outputs, plain(flagged), atol=1e-6)
    np.testing.assert_array_equal(steps, 1.0)
    np.testing.assert_allclose(costs, 2.0, atol=1e-6)


def _remainder_sum(layer, xs):
    """sum over the batch and steps of R(t) = rho_t - N(t), and N(t)."""
    _, costs, steps, *_ = layer(xs)
    return float(tf.reduce_sum(costs - steps)), steps.numpy()


def _finite_difference(layer, xs, variable, index, delta=1e-6):
    """d (sum R) / d variable[index] by central differences; N(t) must not change."""
    value = variable.numpy()
    results = []
    for sign in (1.0, -1.0):
        shifted = value.copy()
        shifted[index] += sign * delta
        variable.assign(shifted)
        results.append(_remainder_sum(layer, xs))
    variable.assign(value)
    (plus, steps_plus), (minus, steps_minus) = results
    np.testing.assert_array_equal(steps_plus, steps_minus)  # N is locally constant here
    return (plus - minus) / (2 * delta)


@pytest.mark.parametrize("name", ["simple_rnn", "lstm"])
def test_ponder_gradient_is_time_penalty_times_remainder_gradient(name):
    tau = 0.3
    layer = _act_layer(CELLS[name]("float64"), time_penalty=tau, halting_bias=-0.5)
    xs = _inputs(seed=3, dtype="float64")
    variables = layer.trainable_variables
    with tf.GradientTape() as tape:
        _, costs, *_ = layer(xs, training=False)
        explicit = tau * tf.reduce_sum(costs)  # rho_t = N + R; only R carries gradient
    explicit_grads = tape.gradient(explicit, variables)
    with tf.GradientTape() as tape:
        outputs, *_ = layer(xs, training=True)
        task = 0.0 * tf.reduce_sum(outputs)  # a training loss that ignores the outputs
    # In training the cell adds tau / batch * sum rho to every gradient (the batch mean).
    injected_grads = [B * g for g in tape.gradient(task, variables)]
    for variable, explicit_grad, injected_grad in zip(variables, explicit_grads, injected_grads):
        np.testing.assert_allclose(injected_grad, explicit_grad, atol=1e-12)
        flat = np.reshape(explicit_grad.numpy(), -1)
        for index in sorted({0, int(np.argmax(np.abs(flat)))}):
            index = np.unravel_index(index, variable.shape)
            expected = tau * _finite_difference(layer, xs, variable, index)
            np.testing.assert_allclose(explicit_grad.numpy()[index], expected, rtol=1e-5, atol=1e-9)
    assert np.any(np.abs(explicit_grads[-1].numpy()) > 1e-3)  # b_h: the check is not vacuous


def test_no_ponder_gradient_outside_training_or_without_penalty():
    xs = _inputs()
    for time_penalty, training in [(0.5, False), (0.5, None), (0.0, True)]:
        layer = _act_layer(CELLS["lstm"](), time_penalty=time_penalty)
        with tf.GradientTape() as tape:
            outputs, *_ = layer(xs, training=training)
            loss = 0.0 * tf.reduce_sum(outputs)
        grads = tape.gradient(loss, layer.trainable_variables)
        assert all(float(tf.reduce_max(tf.abs(g))) == 0.0 for g in grads)


def test_fit_adds_time_penalty_times_batch_mean_ponder_cost():
    """One SGD `fit` step on a zero task loss moves b_h by -lr * tau * d mean_b P / d b_h."""
    tau, lr = 0.2, 0.5
    inner = tf.keras.layers.SimpleRNNCell(UNITS, dtype="float64")
    cell = ACTCell(inner, time_penalty=tau, dtype="float64")
    model = tf.keras.Sequential(
        [
            tf.keras.Input((T, D), dtype="float64"),
            tf.keras.layers.RNN(cell, dtype="float64"),
            tf.keras.layers.Dense(1, dtype="float64"),
        ]
    )
    model.compile(tf.keras.optimizers.SGD(lr), loss=lambda y, p: 0.0 * tf.reduce_mean(p))
    xs = _inputs(seed=4, batch=6, dtype="float64")
    kernel, recurrent_kernel, bias = (w.numpy() for w in cell.cell.weights)
    w_h, b_h = cell.w_h.numpy()[:, 0], float(cell.b_h.numpy()[0])

    def mean_ponder_cost(bias_h):
        zeros = [np.zeros((len(xs), UNITS))]
        transition = ref.simple_rnn_transition(kernel, recurrent_kernel, bias)
        result = ref.act_sequence(xs, zeros, transition, w_h, bias_h, 0.01, 100)
        return result["ponder_costs"].sum(axis=1).mean(), result["steps"]

    delta = 1e-6
    (plus, steps_plus), (minus, steps_minus) = (mean_ponder_cost(b_h + d) for d in (delta, -delta))
    np.testing.assert_array_equal(steps_plus, steps_minus)
    expected_step = -lr * tau * (plus - minus) / (2 * delta)
    model.fit(xs, np.zeros((len(xs), 1)), batch_size=len(xs), epochs=1, verbose=0)
    np.testing.assert_allclose(cell.b_h.numpy()[0] - b_h, expected_step, rtol=1e-5)
    assert abs(expected_step) > 1e-3


def _parity_task(seed=0, n=64):
    xs = np.random.default_rng(seed).integers(0, 2, size=(n, 5, 1)).astype("float32")
    return xs, xs.sum(axis=(1, 2)) % 2


def _trained_steps(time_penalty, epochs=15):
    """Mean N(t) after training RNN(ACTCell(GRUCell)) on short parity sequences."""
    xs, ys = _parity_task()
    model = tf.keras.Sequential(
        [
            tf.keras.Input((5, 1)),
            tf.keras.layers.RNN(
                ACTCell(tf.keras.layers.GRUCell(8), max_ponder_steps=10, time_penalty=time_penalty)
            ),
            tf.keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(tf.keras.optimizers.Adam(0.05), "binary_crossentropy")
    model.fit(xs, ys, batch_size=16, epochs=epochs, verbose=0)
    probe = tf.keras.layers.RNN(
        ACTCell(tf.keras.layers.GRUCell(8), max_ponder_steps=10, return_ponder=True),
        return_sequences=True,
    )
    probe(xs)
    probe.set_weights(model.layers[0].get_weights())
    return float(tf.reduce_mean(probe(xs)[2]))


def test_time_penalty_drives_pondering_to_one_step():
    assert _trained_steps(0.0) >= 1.5  # no penalty: N stays about where b_h = 1 puts it (2)
    assert _trained_steps(1.0) == 1.0  # a large penalty: one ponder step everywhere


def test_xla_gives_the_same_outputs_and_gradients():
    # The stacked LSTM + GRU: a nested state structure.
    layer = _act_layer(CELLS["stacked"](), time_penalty=0.1, halting_bias=-0.5)
    xs = tf.constant(_inputs(seed=5))

    def forward_and_gradients(x):
        with tf.GradientTape() as tape:
            outputs, costs, steps, *_ = layer(x, training=True)
            loss = tf.reduce_mean(outputs**2)
        return [outputs, costs, steps, *tape.gradient(loss, layer.trainable_variables)]

    eager = forward_and_gradients(xs)
    compiled = tf.function(forward_and_gradients, jit_compile=True)(xs)
    assert len(np.unique(eager[2])) > 1  # varied N(t): the per-element masking is exercised
    for a, b in zip(eager, compiled):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["lstm", "stacked"])
def test_sequential_fit_save_and_load(name, tmp_path):
    model = tf.keras.Sequential(
        [
            tf.keras.Input((T, D)),
            tf.keras.layers.RNN(ACTCell(CELLS[name](), max_ponder_steps=8, time_penalty=0.01)),
            tf.keras.layers.Dense(2),
        ]
    )
    model.compile(tf.keras.optimizers.Adam(0.01), "mse")
    xs, ys = _inputs(seed=6, batch=16), np.random.default_rng(7).normal(size=(16, 2))
    history = model.fit(xs, ys, batch_size=8, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    path = os.path.join(tmp_path, "act.keras")
    model.save(path)
    loaded = tf.keras.models.load_model(path)
    cell = loaded.layers[0].cell
    assert isinstance(cell, ACTCell) and type(cell.cell) is type(model.layers[0].cell.cell)
    assert (cell.max_ponder_steps, cell.time_penalty) == (8, 0.01)
    np.testing.assert_allclose(
        loaded.predict(xs, verbose=0), model.predict(xs, verbose=0), atol=1e-6
    )


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"max_ponder_steps": 0}, ValueError),
        ({"max_ponder_steps": 2.5}, TypeError),
        ({"epsilon": 1.0}, ValueError),
        ({"epsilon": -0.1}, ValueError),
        ({"time_penalty": -1.0}, ValueError),
        ({"time_penalty": "0.1"}, TypeError),
        ({"halting_bias": float("nan")}, ValueError),
    ],
)
def test_argument_errors(kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        ACTCell(tf.keras.layers.GRUCell(2), **kwargs)


def test_cell_errors():
    with pytest.raises(TypeError, match="Keras RNN cell"):
        ACTCell(tf.keras.layers.Dense(2))
    with pytest.raises(ValueError, match="dropout"):
        ACTCell(tf.keras.layers.LSTMCell(2, dropout=0.1))
