"""InverseAutoregressiveFlow (Parallel WaveNet, 1711.10433 Sec. 3): Jacobian, composition."""

import numpy as np
import pytest
import tensorflow as tf

from tests.test_case import run_layer_test
from tfgen.layers.iaf import InverseAutoregressiveFlow

T = 12


def _flow(**overrides):
    """A small flow with random (non-zero) last layers, so mu and s depend on the past."""
    kwargs = dict(
        flow_layers=[2, 4],
        layers_per_stack=2,
        residual_channels=6,
        skip_channels=8,
        global_conditioning=True,
    )
    tf.keras.utils.set_random_seed(0)
    flow = InverseAutoregressiveFlow(**{**kwargs, **overrides})
    h = tf.one_hot([1], 3)
    flow(tf.zeros([1, T]), global_condition=h)
    for index, stack in enumerate(flow.flows):
        kernel = stack.output_projection.kernel
        kernel.assign(0.3 * tf.random.stateless_normal(kernel.shape, [7, index]))
    return flow, h


def _noise(seed, batch=1):
    u = tf.random.stateless_uniform([batch, T], [seed, 1], 1e-3, 1.0 - 1e-3, tf.float64)
    return tf.cast(np.log(u) - np.log1p(-u), tf.float32)


def test_log_determinant_matches_numerical_jacobian():
    """dx/dz is lower triangular with diagonal s^tot_t, so log|det| = sum_t log s^tot_t."""
    flow, h = _flow()
    z = _noise(0)
    with tf.GradientTape() as tape:
        tape.watch(z)
        x, loc, log_scale = flow(z, global_condition=h)
    jacobian = tape.jacobian(x, z)[0, :, 0, :].numpy().astype(np.float64)  # [T, T]
    assert not np.any(np.triu(jacobian, 1)), "x_t depends on z_t' for t' > t"
    assert np.count_nonzero(np.tril(jacobian, -1)) > T, "x_t should depend on z_<t"
    np.testing.assert_allclose(np.diag(jacobian), np.exp(log_scale[0].numpy()), rtol=1e-5)
    sign, log_det = np.linalg.slogdet(jacobian)
    assert sign == 1.0
    np.testing.assert_allclose(log_det, log_scale.numpy().sum(), rtol=1e-4, atol=1e-4)


def test_location_and_scale_depend_on_the_strict_past_only():
    flow, h = _flow()
    z = _noise(1)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(z)
        x, loc, log_scale = flow(z, global_condition=h)
    for output in (loc, log_scale):
        jacobian = tape.jacobian(output, z)[0, :, 0, :].numpy()
        assert not np.any(np.triu(jacobian)), "loc/scale at t must not see z_t or later"
    np.testing.assert_allclose(x, z * tf.exp(log_scale) + loc, rtol=1e-5, atol=1e-6)


def test_location_sees_exactly_the_receptive_field():
    """loc_t and log s_t see z_{t-R} .. z_{t-1}: the flows' fields added (chained).

    Flows of 2 and 4 layers (dilations 1, 2 and 1, 2, 1, 2) behind a shifted width-2 input
    conv see 2 + 3 = 5 and 2 + 6 = 8 past inputs; a flow's input at t' is a function of
    z_{t' - (earlier fields)} .. z_{t'}, so 5 + 8 = 13.
    """
    flow, h = _flow()
    assert flow.receptive_field == 13
    z = tf.random.stateless_normal([1, 20], [8, 1])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(z)
        _, loc, log_scale = flow(z, global_condition=h)
        outputs = loc[0, -1], log_scale[0, -1]
    for output in outputs:
        support = np.flatnonzero(tape.gradient(output, z)[0].numpy())
        np.testing.assert_array_equal(support, np.arange(19 - 13, 19))


def test_composition_equals_flows_applied_in_turn():
    """x^i = x^{i-1} s^i(x^{i-1}_<t) + mu^i(x^{i-1}_<t), applied flow by flow in NumPy."""
    flow, h = _flow()
    z = _noise(2, batch=3)
    h3 = tf.tile(h, [3, 1])
    x, loc, log_scale = flow(z, global_condition=h3)
    expected, total_log_s = z.numpy().astype(np.float64), 0.0
    for stack in flow.flows:
        params = stack(tf.constant(expected[..., None], tf.float32), global_condition=h3).numpy()
        expected = expected * np.exp(params[..., 1]) + params[..., 0]
        total_log_s = total_log_s + params[..., 1]
    np.testing.assert_allclose(x.numpy(), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(log_scale.numpy(), total_log_s, rtol=1e-5, atol=1e-5)


def test_initial_flow_is_a_small_scaling_of_the_noise():
    flow = InverseAutoregressiveFlow(
        [1, 2, 2], layers_per_stack=2, residual_channels=4, skip_channels=4, initial_scale=0.05
    )
    z = _noise(3, batch=2)
    x, loc, log_scale = flow(z)
    np.testing.assert_allclose(x.numpy(), 0.05 * z.numpy(), rtol=1e-5)
    np.testing.assert_allclose(log_scale.numpy(), np.log(0.05), rtol=1e-5)
    np.testing.assert_allclose(loc.numpy(), 0.0)


def test_flow_structure_and_config_round_trip():
    flow = InverseAutoregressiveFlow([10, 10, 10, 30], residual_channels=4, skip_channels=4)
    assert [f.num_stacks for f in flow.flows] == [1, 1, 1, 3]
    assert all(f.dilations[:10] == [2**i for i in range(10)] for f in flow.flows)
    clone = InverseAutoregressiveFlow.from_config(flow.get_config())
    assert clone.get_config() == flow.get_config()


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(flow_layers=[]), ValueError),
        (dict(flow_layers=[12], layers_per_stack=10), ValueError),
        (dict(flow_layers=[2.0]), TypeError),
        (dict(flow_layers=[2], initial_scale=0.0), ValueError),
        (dict(flow_layers=[2], flow_dtype="float33"), ValueError),
    ],
)
def test_bad_arguments(kwargs, error):
    with pytest.raises(error, match="expected"):
        InverseAutoregressiveFlow(**kwargs)


def test_bad_noise_rank():
    flow = InverseAutoregressiveFlow([1], residual_channels=4, skip_channels=4)
    with pytest.raises(ValueError, match=r"expected noise of shape \[batch, time\]"):
        flow(tf.zeros([1, 4, 1]))


# Two flows, each a WaveNetStack(2, 1, 2) with global conditioning.
SMALL = {
    "flow_layers": (2, 2),
    "layers_per_stack": 2,
    "residual_channels": 4,
    "skip_channels": 4,
    "global_conditioning": True,
    "initial_scale": 0.5,
}


def test_layer():
    z = np.random.default_rng(0).logistic(size=(2, 6)).astype(np.float32)
    h = np.eye(3, dtype=np.float32)[[0, 2]]
    # Two flows, each a WaveNetStack(2, 1, 2) with global conditioning:
    # input conv 2, blocks 7 + 5, output 1x1s 4: 18 weights per flow.
    run_layer_test(
        InverseAutoregressiveFlow,
        SMALL,
        z,
        expected_output_shape=((2, 6), (2, 6), (2, 6)),
        expected_num_trainable_weights=36,
        call_kwargs={"global_condition": h},
    )


def test_layer_with_bfloat16_flows():
    z = np.random.default_rng(1).logistic(size=(2, 6)).astype(np.float32)
    h = np.eye(3, dtype=np.float32)[[1, 2]]
    layer, _ = run_layer_test(
        InverseAutoregressiveFlow,
        {**SMALL, "flow_dtype": "mixed_bfloat16"},
        z,
        expected_output_shape=((2, 6), (2, 6), (2, 6)),
        expected_num_trainable_weights=36,
        call_kwargs={"global_condition": h},
    )
    block = layer.flows[0].blocks[0]
    assert block.dilated_conv.compute_dtype == block.skip_projection.compute_dtype == "bfloat16"
    assert block.dilated_conv.kernel.dtype == tf.float32  # mixed precision: float32 weights
    assert layer.flows[0].output_projection.compute_dtype == "float32"


def test_bfloat16_flows_round_only_inside_the_flows():
    """Same weights: x, mu and log s close to float32's; the noise itself is never cast."""
    full, h = _flow()
    half = InverseAutoregressiveFlow(**{**full.get_config(), "flow_dtype": "mixed_bfloat16"})
    half(tf.zeros([1, T]), global_condition=h)
    half.set_weights(full.get_weights())
    z = _noise(4, batch=2) * 1e-3  # tiny noise: bfloat16 inputs would round it to 3 digits
    h2 = tf.tile(h, [2, 1])
    expected, actual = full(z, global_condition=h2), half(z, global_condition=h2)
    for e, a in zip(expected, actual):
        assert a.dtype == tf.float32
        np.testing.assert_allclose(a, e, rtol=0.05, atol=0.02)
    assert not np.allclose(actual[2], expected[2], rtol=1e-6, atol=0)  # it did round
    # At initialisation (zero last layers) the bfloat16 flows give x = initial_scale * z
    # exactly: the location and log-scale come from float32 biases, z is not cast.
    fresh = InverseAutoregressiveFlow(
        [1, 2],
        layers_per_stack=2,
        residual_channels=4,
        skip_channels=4,
        flow_dtype="mixed_bfloat16",
    )
    np.testing.assert_allclose(fresh(z)[0], 0.05 * z.numpy(), rtol=1e-5)
