"""tfgen.rl.networks: NoisyNet Q networks (1706.10295) and the A3C actor-critic network."""

import inspect

import numpy as np
import pytest
import tensorflow as tf
from tf_agents.agents.dqn import dqn_agent
from tf_agents.networks import q_network
from tf_agents.policies import actor_policy
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts

from tfgen.layers import NoisyDense
from tfgen.rl.networks import NoisyActorCriticNetwork, NoisyDuelingQNetwork, NoisyQNetwork

OBS = tensor_spec.TensorSpec([4], tf.float32)
ACTIONS = tensor_spec.BoundedTensorSpec([], tf.int64, 0, 2)  # 3 actions
Q_NETWORKS = [NoisyQNetwork, NoisyDuelingQNetwork]


def _obs(*outer):
    return tf.constant(np.random.default_rng(0).normal(size=outer + (4,)), tf.float32)


def _variables(net, layer_name):
    """{'mu_w': ..., 'mu_b': ...} of the named NoisyDense layer of `net`."""
    return {
        v.name.split("/")[-1][:-2]: v.numpy() for v in net.variables if f"/{layer_name}/" in v.name
    }


@pytest.mark.parametrize("cls", Q_NETWORKS)
def test_constructor_takes_qnetwork_arguments(cls):
    ours = inspect.signature(cls.__init__).parameters
    theirs = inspect.signature(q_network.QNetwork.__init__).parameters
    for name, parameter in theirs.items():
        assert name in ours, name
        if name != "name":
            assert ours[name].default == parameter.default, name
    assert not any(p.kind == p.VAR_POSITIONAL for p in ours.values())


@pytest.mark.parametrize("cls", Q_NETWORKS)
def test_q_values_change_between_calls_and_seed_reproduces_them(cls):
    net = cls(OBS, ACTIONS, fc_layer_params=(8,))
    obs = _obs(5)
    first, _ = net(obs, training=False)
    second, _ = net(obs, training=False)
    assert first.shape == (5, 3)
    assert np.all(first.numpy() != second.numpy())
    seed = tf.constant([1, 2])
    np.testing.assert_array_equal(net(obs, noise_seed=seed)[0], net(obs, noise_seed=seed)[0])
    net.noisy = False
    assert not net.noisy
    np.testing.assert_array_equal(net(obs)[0], net(obs)[0])


def test_every_fully_connected_layer_is_noisy():
    net = NoisyQNetwork(OBS, ACTIONS, fc_layer_params=(8, 6))
    net.create_variables()
    noisy = sorted(layer.name for layer in net.submodules if isinstance(layer, NoisyDense))
    assert noisy == ["fc_0", "fc_1", "q_values"]
    assert not [layer for layer in net.submodules if type(layer) is tf.keras.layers.Dense]


def test_mean_q_network_matches_numpy_forward_pass():
    net = NoisyQNetwork(OBS, ACTIONS, fc_layer_params=(8,))
    net.create_variables()
    net.noisy = False
    obs = _obs(5)
    fc, head = _variables(net, "fc_0"), _variables(net, "q_values")
    hidden = np.maximum(obs.numpy() @ fc["mu_w"] + fc["mu_b"], 0.0)
    np.testing.assert_allclose(
        net(obs)[0], hidden @ head["mu_w"] + head["mu_b"], rtol=1e-5, atol=1e-5
    )


def test_dueling_head_is_value_plus_centred_advantage():
    net = NoisyDuelingQNetwork(OBS, ACTIONS, fc_layer_params=(8,))
    net.create_variables()
    net.noisy = False
    obs = _obs(5).numpy()

    def stream(name):  # NumPy mean network of one stream (Dueling, 1511.06581 Fig. 1)
        fc, out = _variables(net, f"{name}_fc_0"), _variables(net, name)
        return np.maximum(obs @ fc["mu_w"] + fc["mu_b"], 0.0) @ out["mu_w"] + out["mu_b"]

    value, advantage = stream("value"), stream("advantage")
    assert value.shape == (5, 1) and advantage.shape == (5, 3)
    expected = value + advantage - advantage.mean(-1, keepdims=True)  # Eq. 9
    np.testing.assert_allclose(net(obs)[0], expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls", Q_NETWORKS)
def test_dqn_agent_target_network_is_an_independent_noisy_copy(cls):
    net = cls(OBS, ACTIONS, fc_layer_params=(8,))
    time_step_spec = ts.time_step_spec(OBS)
    agent = dqn_agent.DqnAgent(
        time_step_spec,
        ACTIONS,
        q_network=net,
        optimizer=tf.keras.optimizers.Adam(1e-3),
        epsilon_greedy=0.0,
    )
    agent.initialize()
    target = agent._target_q_network
    assert type(target) is cls and target is not net
    online_vars = {id(v) for v in net.variables}
    assert not online_vars & {id(v) for v in target.variables}
    obs = _obs(5)
    # The initial hard update copies the weights: equal mean networks ...
    net.noisy = target.noisy = False
    np.testing.assert_allclose(net(obs)[0], target(obs)[0])
    # ... but each network draws its own noise.
    net.noisy = target.noisy = True
    assert np.all(net(obs)[0].numpy() != target(obs)[0].numpy())
    # Changing the online weights leaves the target alone.
    target.noisy = False
    before = target(obs)[0].numpy()
    for v in net.trainable_variables:
        v.assign_add(tf.ones_like(v))
    np.testing.assert_array_equal(target(obs)[0], before)


def test_actor_critic_feed_forward_outputs():
    net = NoisyActorCriticNetwork(OBS, ACTIONS, fc_layer_params=(16,))
    (logits, value), state = net(_obs(5))
    assert logits.shape == (5, 3) and value.shape == (5,) and state == ()
    (logits, value), _ = net(_obs(5, 7))
    assert logits.shape == (5, 7, 3) and value.shape == (5, 7)
    noisy = sorted(layer.name for layer in net.submodules if isinstance(layer, NoisyDense))
    assert noisy == ["fc_0", "policy_logits", "value"]
    assert all(
        layer.noise == "independent" for layer in net.submodules if isinstance(layer, NoisyDense)
    )


def test_actor_critic_lstm_unroll_equals_step_by_step():
    net = NoisyActorCriticNetwork(OBS, ACTIONS, fc_layer_params=(16,), lstm_size=8)
    assert [spec.shape for spec in net.state_spec] == [(8,), (8,)]
    obs = _obs(2, 6)
    step_type = tf.constant([[0, 1, 1, 0, 1, 2]] * 2, tf.int32)  # an episode restarts at t=3
    seed = tf.constant([5, 6])  # one network sample for the whole rollout (Algorithm 2)
    (logits, value), final = net(
        obs, step_type=step_type, network_state=net.get_initial_state(2), noise_seed=seed
    )
    state = net.get_initial_state(2)
    for t in range(6):
        (logits_t, value_t), state = net(
            obs[:, t], step_type=step_type[:, t], network_state=state, noise_seed=seed
        )
        np.testing.assert_allclose(logits_t, logits[:, t], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(value_t, value[:, t], rtol=1e-5, atol=1e-6)
    for a, b in zip(final, state):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # The reset at t=3 makes the rest of the rollout independent of t < 3.
    (tail_logits, _), _ = net(
        obs[:, 3:],
        step_type=step_type[:, 3:],
        network_state=net.get_initial_state(2),
        noise_seed=seed,
    )
    np.testing.assert_allclose(tail_logits, logits[:, 3:], rtol=1e-5, atol=1e-6)


def test_actor_network_view_drives_an_actor_policy():
    net = NoisyActorCriticNetwork(OBS, ACTIONS, fc_layer_params=(16,), lstm_size=8)
    actor = net.actor_network()
    policy = actor_policy.ActorPolicy(ts.time_step_spec(OBS), ACTIONS, actor_network=actor)
    time_step = ts.restart(_obs(4), batch_size=4)
    step = policy.action(time_step, policy.get_initial_state(4))
    assert step.action.dtype == tf.int64 and step.action.shape == (4,)
    assert np.all((step.action.numpy() >= 0) & (step.action.numpy() <= 2))
    # A view, not a copy: the policy's variables are the network's.
    assert {id(v) for v in policy.variables()} == {id(v) for v in net.variables}
    seed = tf.constant([3, 4])
    distribution, _ = actor(
        _obs(4),
        step_type=time_step.step_type,
        network_state=net.get_initial_state(4),
        noise_seed=seed,
    )
    (logits, _), _ = net(
        _obs(4),
        step_type=time_step.step_type,
        network_state=net.get_initial_state(4),
        noise_seed=seed,
    )
    np.testing.assert_allclose(distribution.logits_parameter(), logits)


@pytest.mark.parametrize("cls", Q_NETWORKS + [NoisyActorCriticNetwork])
def test_continuous_actions_rejected(cls):
    continuous = tensor_spec.BoundedTensorSpec([], tf.float32, -1.0, 1.0)
    with pytest.raises(TypeError, match="expected an integer"):
        cls(OBS, continuous)


def test_bad_lstm_size_rejected():
    with pytest.raises(ValueError, match="lstm_size: expected None or a positive int"):
        NoisyActorCriticNetwork(OBS, ACTIONS, lstm_size=0)
