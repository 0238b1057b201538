"""Grid LSTM (arXiv 1507.01526) against a NumPy reference written from the paper."""

import os

import numpy as np
import pytest
import tensorflow as tf

from tests.layers import grid_lstm_reference as reference
from tests.test_case import CellRNN, run_layer_test
from tfgen.layers.grid_lstm import GridLSTM1D, GridLSTMBlock, GridLSTMCell

RANDOM = {"kernel_initializer": "glorot_normal", "bias_initializer": "random_normal"}
ACTIVATIONS = {"tanh": np.tanh, "relu": lambda x: np.maximum(x, 0.0), "linear": lambda x: x}


def _random(rng, shape):
    return rng.normal(size=shape).astype(np.float32)


def _block_inputs(rng, num_dimensions, batch=3, units=4):
    hiddens = [_random(rng, (batch, units)) for _ in range(num_dimensions)]
    memories = [_random(rng, (batch, units)) for _ in range(num_dimensions)]
    return hiddens, memories


def _short_names(layer):
    return {
        w.name.split("/")[-1].split(":")[0]: w.numpy().astype(np.float64) for w in layer.weights
    }


def _block_weights(block):
    """The reference's per-dimension (W_i, b_i), read from the layer's weights by name."""
    names = _short_names(block)
    weights = []
    for i in range(block.num_dimensions):
        if i in block.non_lstm_dimensions:
            weights.append((names[f"non_lstm_kernel_{i}"], names[f"non_lstm_bias_{i}"]))
        elif block.tied:
            weights.append((names["kernel"], names["bias"]))
        else:
            weights.append((names[f"kernel_{i}"], names[f"bias_{i}"]))
    return weights


def _to_keras_gates(w):
    """Columns [g_u | g_f | g_o | g_c] (the paper's order) -> Keras' [i | f | c | o]."""
    u, f, o, c = np.split(w, 4, axis=-1)
    return np.concatenate([u, f, c, o], axis=-1)


# ---------------------------------------------------------------- GridLSTMBlock


@pytest.mark.parametrize(
    "init_kwargs, num_weights",
    [
        ({"num_dimensions": 2, "priority_dimensions": (1,)}, 4),
        (
            {
                "num_dimensions": 3,
                "tied": True,
                "priority_dimensions": (0,),
                "non_lstm_dimensions": (2,),
                "non_lstm_activation": "relu",
            },
            4,
        ),
    ],
)
def test_block_layer_test(init_kwargs, num_weights):
    n = init_kwargs["num_dimensions"]
    hiddens, memories = _block_inputs(np.random.default_rng(0), n)
    run_layer_test(
        GridLSTMBlock,
        init_kwargs={"units": 4, **init_kwargs},
        input_data=(hiddens, memories),
        expected_output_shape=([(3, 4)] * n, [(3, 4)] * n),
        expected_num_trainable_weights=num_weights,
    )


BLOCK_CONFIGS = [
    {"num_dimensions": 1},
    {"num_dimensions": 2},
    {"num_dimensions": 2, "tied": True},
    {"num_dimensions": 2, "output_form": "standard"},
    {"num_dimensions": 3, "priority_dimensions": (0,)},
    {"num_dimensions": 3, "tied": True, "priority_dimensions": (2, 0)},
    {"num_dimensions": 3, "non_lstm_dimensions": (1,)},
    {"num_dimensions": 3, "non_lstm_dimensions": (0,), "non_lstm_activation": "relu"},
    {
        "num_dimensions": 3,
        "tied": True,
        "priority_dimensions": (1,),
        "non_lstm_dimensions": (1, 2),
        "non_lstm_activation": "linear",
    },
]


@pytest.mark.parametrize("config", BLOCK_CONFIGS, ids=str)
def test_block_matches_reference(config):
    rng = np.random.default_rng(1)
    hiddens, memories = _block_inputs(rng, config["num_dimensions"])
    block = GridLSTMBlock(4, **config, **RANDOM)
    new_hiddens, new_memories = block(([tf.constant(h) for h in hiddens], memories))
    expected_h, expected_m = reference.block(
        [h.astype(np.float64) for h in hiddens],
        [m.astype(np.float64) for m in memories],
        _block_weights(block),
        priority=config.get("priority_dimensions", ()),
        non_lstm=config.get("non_lstm_dimensions", ()),
        alpha=ACTIVATIONS[config.get("non_lstm_activation", "tanh")],
        output_form=config.get("output_form", "paper"),
    )
    for actual, expected in zip(new_hiddens + new_memories, expected_h + expected_m):
        np.testing.assert_allclose(actual.numpy(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("num_dimensions", [1, 2, 3])
def test_block_shapes_and_gradients(num_dimensions):
    priority = (num_dimensions - 1,) if num_dimensions > 1 else ()
    block = GridLSTMBlock(5, num_dimensions, priority_dimensions=priority, **RANDOM)
    hiddens, memories = _block_inputs(np.random.default_rng(2), num_dimensions, batch=2, units=5)
    inputs = [tf.constant(x) for x in hiddens + memories]
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        new_hiddens, new_memories = block((inputs[:num_dimensions], inputs[num_dimensions:]))
        loss = tf.add_n([tf.reduce_sum(x) for x in new_hiddens + new_memories])
    assert [tuple(x.shape) for x in new_hiddens + new_memories] == [(2, 5)] * (2 * num_dimensions)
    gradients = tape.gradient(loss, inputs + block.trainable_weights)
    assert len(block.trainable_weights) == 2 * num_dimensions
    for gradient in gradients:
        assert gradient is not None
        assert np.all(np.isfinite(gradient.numpy())) and np.any(gradient.numpy() != 0)


def _jacobian_norm(block, output_index, input_index, num_dimensions=2):
    """|d h'_{output_index} / d m_{input_index}| for random inputs."""
    hiddens, memories = _block_inputs(np.random.default_rng(3), num_dimensions)
    memories = [tf.constant(m) for m in memories]
    with tf.GradientTape() as tape:
        tape.watch(memories)
        new_hiddens, _ = block((hiddens, memories))
    jacobian = tape.jacobian(new_hiddens[output_index], memories[input_index])
    return 0.0 if jacobian is None else float(tf.reduce_sum(tf.abs(jacobian)))


def test_priority_dimension_sees_the_other_dimensions_outputs():
    # Sec. 3.2: without priority, h'_1 reads H (input hidden vectors) and m_1 only, not m_2;
    # prioritizing dimension 1 feeds it h'_2, which reads m_2.
    assert _jacobian_norm(GridLSTMBlock(4, 2, **RANDOM), 0, 1) == 0.0
    assert _jacobian_norm(GridLSTMBlock(4, 2, priority_dimensions=(0,), **RANDOM), 0, 1) > 0
    # The other dimension is computed first and does not see h'_1.
    assert _jacobian_norm(GridLSTMBlock(4, 2, priority_dimensions=(0,), **RANDOM), 1, 0) == 0.0


def test_tied_dimensions_share_one_transform():
    rng = np.random.default_rng(4)
    hiddens, _ = _block_inputs(rng, 3)
    memory = _random(rng, (3, 4))
    tied = GridLSTMBlock(4, 3, tied=True, **RANDOM)
    new_hiddens, new_memories = tied((hiddens, [memory] * 3))
    assert [w.name.split("/")[-1] for w in tied.weights] == ["kernel:0", "bias:0"]
    # Same H, same memory, same W: the same outputs along every dimension.
    for i in (1, 2):
        np.testing.assert_array_equal(new_hiddens[i].numpy(), new_hiddens[0].numpy())
        np.testing.assert_array_equal(new_memories[i].numpy(), new_memories[0].numpy())
    untied_hiddens, _ = GridLSTMBlock(4, 3, **RANDOM)((hiddens, [memory] * 3))
    assert not np.allclose(untied_hiddens[1].numpy(), untied_hiddens[0].numpy())


def test_non_lstm_dimension_has_no_memory():
    block = GridLSTMBlock(4, 2, non_lstm_dimensions=(1,), **RANDOM)
    hiddens, memories = _block_inputs(np.random.default_rng(5), 2)
    _, new_memories = block((hiddens, memories))
    np.testing.assert_array_equal(new_memories[1].numpy(), memories[1])
    # Sec. 3.3: h'_2 = alpha(V H) does not read any memory vector.
    assert _jacobian_norm(block, 1, 1) == 0.0
    assert _jacobian_norm(block, 1, 0) == 0.0


def test_untied_weights_start_different():
    block = GridLSTMBlock(4, 3)
    block(_block_inputs(np.random.default_rng(6), 3))
    kernels = [w.numpy() for w in block.weights if "kernel" in w.name]
    assert len(kernels) == 3
    assert not np.allclose(kernels[0], kernels[1]) and not np.allclose(kernels[1], kernels[2])
    # unit_forget_bias: the forget gate's bias (the second quarter) starts at 1.
    np.testing.assert_array_equal(block.weights[1].numpy(), np.repeat([0.0, 1.0, 0.0, 0.0], 4))


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"units": 0, "num_dimensions": 2}, ValueError),
        ({"units": 4, "num_dimensions": "2"}, TypeError),
        ({"units": 4, "num_dimensions": 2, "priority_dimensions": (2,)}, ValueError),
        ({"units": 4, "num_dimensions": 2, "priority_dimensions": (1, 1)}, ValueError),
        ({"units": 4, "num_dimensions": 2, "priority_dimensions": 1}, TypeError),
        ({"units": 4, "num_dimensions": 2, "non_lstm_dimensions": (-1,)}, ValueError),
        ({"units": 4, "num_dimensions": 2, "output_form": "keras"}, ValueError),
    ],
)
def test_block_rejects_bad_arguments(kwargs, error):
    with pytest.raises(error):
        GridLSTMBlock(**kwargs)


def test_block_rejects_inputs_of_the_wrong_structure():
    hiddens, memories = _block_inputs(np.random.default_rng(7), 2)
    with pytest.raises(ValueError, match="expected hiddens to be 3 tensors"):
        GridLSTMBlock(4, 3)((hiddens, memories))
    with pytest.raises(ValueError, match=r"\[batch, 5\]"):
        GridLSTMBlock(5, 2)((hiddens, memories))


# ---------------------------------------------------------------- GridLSTM1D


def test_1d_layer_test():
    x = _random(np.random.default_rng(8), (3, 6))
    run_layer_test(
        GridLSTM1D,
        init_kwargs={"units": 4, "num_layers": 3, "tied": False},
        input_data=x,
        expected_output_shape=(3, 4),
        expected_num_trainable_weights=7,  # I, and a kernel and a bias per layer
    )


def _1d_reference_weights(grid):
    blocks = [grid.blocks[0 if grid.tied else layer] for layer in range(grid.num_layers)]
    return grid.input_projection.kernel.numpy(), [_block_weights(b)[0] for b in blocks]


@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("output_form", ["paper", "standard"])
def test_1d_matches_reference(tied, output_form):
    x = _random(np.random.default_rng(9), (4, 7))
    grid = GridLSTM1D(5, num_layers=4, tied=tied, output_form=output_form, **RANDOM)
    output = grid(x).numpy()
    projection, layer_weights = _1d_reference_weights(grid)
    expected = reference.grid_1d(x.astype(np.float64), projection, layer_weights, output_form)
    np.testing.assert_allclose(output, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("tied", [True, False])
def test_1d_equals_keras_lstm_stack_with_memory_passed_up(tied):
    """Layer l = Keras LSTMCell(input h_{l-1}, state [0, m_{l-1}]); its c goes to layer l+1."""
    rng = np.random.default_rng(10)
    x = _random(rng, (4, 7))
    units, num_layers = 5, 3
    grid = GridLSTM1D(units, num_layers, tied=tied, output_form="standard", **RANDOM)
    output = grid(x).numpy()
    projection, layer_weights = _1d_reference_weights(grid)
    h = x @ projection
    c = np.zeros_like(h)
    for W, b in layer_weights:
        cell = tf.keras.layers.LSTMCell(units)
        cell.build([None, units])
        # The recurrent kernel multiplies the zero hidden state: any value will do.
        recurrent = _random(rng, (units, 4 * units))
        cell.set_weights([_to_keras_gates(W), recurrent, _to_keras_gates(b)])
        h, (_, c) = cell(h, [tf.zeros_like(h), c])
    np.testing.assert_allclose(output, h.numpy(), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- GridLSTMCell


def test_cell_layer_test():
    x = _random(np.random.default_rng(11), (2, 3, 3))
    run_layer_test(
        CellRNN,
        init_kwargs={"cell": GridLSTMCell(4, num_layers=2, tied=False)},
        input_data=x,
        expected_output_shape=(2, 4),
        expected_num_trainable_weights=9,  # I, and two kernels and two biases per layer
    )


def _cell_reference_weights(cell):
    blocks = [cell.blocks[0 if cell.tied else layer] for layer in range(cell.num_layers)]
    return cell.input_projection.kernel.numpy(), [_block_weights(b) for b in blocks]


@pytest.mark.parametrize(
    "config",
    [
        {"num_layers": 1},
        {"num_layers": 3, "tied": False},
        {"num_layers": 2, "tied": True, "prioritize_depth": False},
        {"num_layers": 2, "tied": False, "output_form": "standard"},
    ],
    ids=str,
)
def test_cell_matches_reference_over_a_sequence(config):
    xs = _random(np.random.default_rng(12), (3, 6, 2))
    cell = GridLSTMCell(4, **config, **RANDOM)
    rnn = tf.keras.layers.RNN(cell, return_sequences=True, return_state=True)
    outputs, *states = rnn(xs)
    projection, layer_weights = _cell_reference_weights(cell)
    expected_outputs, expected_states = reference.grid_2d(
        xs.astype(np.float64),
        projection,
        layer_weights,
        prioritize_depth=config.get("prioritize_depth", True),
        output_form=config.get("output_form", "paper"),
    )
    np.testing.assert_allclose(outputs.numpy(), expected_outputs, rtol=1e-5, atol=1e-5)
    assert len(states) == 2 * config["num_layers"]
    for state, expected in zip(states, expected_states):
        np.testing.assert_allclose(state.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_cell_time_transform_is_a_stacked_lstm_layer_step():
    """The time transform of layer 1 = Keras LSTMCell(input I x_t, state (h^t, m^t))."""
    rng = np.random.default_rng(13)
    units = 4
    cell = GridLSTMCell(units, output_form="standard", **RANDOM)
    x = _random(rng, (3, 2))
    states = [tf.constant(_random(rng, (3, units))) for _ in range(2)]
    cell.build([None, 2])
    _, (h_time, m_time) = cell(x, states)
    W, b = _block_weights(cell.blocks[0])[GridLSTMCell.TIME]
    lstm = tf.keras.layers.LSTMCell(units)
    lstm.build([None, units])
    # H = [h_time; h_depth]: the first rows read the recurrent state, the others the input.
    lstm.set_weights([_to_keras_gates(W[units:]), _to_keras_gates(W[:units]), _to_keras_gates(b)])
    expected_h, (_, expected_c) = lstm(cell.input_projection(x), states)
    np.testing.assert_allclose(h_time.numpy(), expected_h.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(m_time.numpy(), expected_c.numpy(), rtol=1e-5, atol=1e-5)


def test_cell_defaults_sizes_and_initial_state():
    cell = GridLSTMCell(16)
    assert (cell.num_layers, cell.tied, cell.prioritize_depth) == (1, True, True)
    assert (cell.output_size, cell.state_size) == (16, [16, 16])
    states = GridLSTMCell(8, num_layers=3).get_initial_state(batch_size=2, dtype=tf.float32)
    assert [tuple(s.shape) for s in states] == [(2, 8)] * 6
    assert all(not np.any(s.numpy()) for s in states)
    with pytest.raises(ValueError):
        GridLSTMCell(16, num_layers=0)
    with pytest.raises(ValueError, match="known last dimension"):
        GridLSTMCell(4).build([None, None])


def _sequence_data():
    rng = np.random.default_rng(14)
    x = rng.normal(size=(32, 6, 3)).astype(np.float32)
    y = np.stack([x[:, 0, 0], x[:, :, 1].mean(axis=1)], axis=1).astype(np.float32)
    return x, y


def _sequential(**cell_kwargs):
    return tf.keras.Sequential(
        [
            tf.keras.Input([6, 3]),
            tf.keras.layers.RNN(GridLSTMCell(16, **cell_kwargs)),
            tf.keras.layers.Dense(2),
        ]
    )


def test_sequential_fit_save_and_load(tmp_path):
    tf.keras.utils.set_random_seed(0)
    x, y = _sequence_data()
    model = _sequential()
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-2), loss="mse")
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0]
    path = os.path.join(tmp_path, "grid.keras")
    model.save(path)
    loaded = tf.keras.models.load_model(path)
    assert isinstance(loaded.layers[0].cell, GridLSTMCell)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_jit_compile_gives_the_same_outputs():
    tf.keras.utils.set_random_seed(1)
    x, _ = _sequence_data()
    model = _sequential(num_layers=2, tied=False)
    compiled = tf.function(model, jit_compile=True)
    np.testing.assert_allclose(compiled(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-5)
