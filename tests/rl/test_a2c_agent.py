"""A2CAgent: a tf-agents pipeline (batched envs, DynamicStepDriver, replay-free
training), the train-step counter, and the PolicySaver export with its
`serving_default` alias, loaded with `tf.saved_model.load` and served by `serving/`.
"""

import numpy as np
import pytest
import tensorflow as tf
from tf_agents.drivers import dynamic_step_driver
from tf_agents.environments import batched_py_environment, suite_gym, tf_py_environment
from tf_agents.replay_buffers import tf_uniform_replay_buffer

from serving.client import Client
from serving.process import ServerProcess
from tests import fresh_process
from tfgen.rl.a2c_agent import A2CAgent, A2CLossInfo, save_policy
from tfgen.rl.networks import NoisyActorCriticNetwork

T_MAX, BATCH = 5, 4


def _env(seed=0):
    envs = [suite_gym.load("CartPole-v1") for _ in range(BATCH)]
    for i, env in enumerate(envs):
        env.seed(seed + i)
    return tf_py_environment.TFPyEnvironment(batched_py_environment.BatchedPyEnvironment(envs))


def _pipeline(lstm_size=None, noisy=False):
    tf.keras.utils.set_random_seed(0)
    env = _env()
    net = NoisyActorCriticNetwork(
        env.observation_spec(), env.action_spec(), fc_layer_params=(32,), lstm_size=lstm_size
    )
    net.noisy = noisy
    agent = A2CAgent(
        env.time_step_spec(),
        env.action_spec(),
        net,
        tf.keras.optimizers.RMSprop(1e-3, rho=0.99, epsilon=0.1),
        entropy_beta=0.0 if noisy else 0.01,
    )
    agent.initialize()
    buffer = tf_uniform_replay_buffer.TFUniformReplayBuffer(
        agent.collect_data_spec, batch_size=env.batch_size, max_length=T_MAX + 1
    )
    driver = dynamic_step_driver.DynamicStepDriver(
        env, agent.collect_policy, [buffer.add_batch], num_steps=(T_MAX + 1) * env.batch_size
    )
    return env, agent, buffer, driver


def _collect(driver, buffer):
    buffer.clear()
    driver.run()
    return buffer.gather_all()


@pytest.mark.parametrize("lstm_size,noisy", [(None, False), (8, False), (None, True)])
def test_train_increments_step_counter_once_and_returns_finite_loss(lstm_size, noisy):
    _, agent, buffer, driver = _pipeline(lstm_size, noisy)
    train = tf.function(agent.train)
    before = [v.numpy() for v in agent.actor_critic_network.trainable_variables]
    for iteration in range(3):
        experience = _collect(driver, buffer)
        assert experience.step_type.shape[:2] == (BATCH, T_MAX + 1)
        loss_info = train(experience)
        assert int(agent.train_step_counter.numpy()) == iteration + 1
        assert isinstance(loss_info.extra, A2CLossInfo)
        for value in (loss_info.loss,) + tuple(loss_info.extra):
            assert np.isfinite(value.numpy())
    after = [v.numpy() for v in agent.actor_critic_network.trainable_variables]
    assert any(not np.allclose(a, b) for a, b in zip(before, after))


def test_loss_matches_a_numpy_reference_of_the_a3c_loss():
    """`_loss` on a hand-built [1, 4] trajectory with an episode end inside."""
    _, agent, _, _ = _pipeline()
    net = agent.actor_critic_network
    gamma, beta, c = 0.99, 0.01, 1.0  # Algorithm S3 (dtheta_v of (R - V)^2), Sec. 8 (beta).
    rng = np.random.default_rng(0)
    step_type = np.array([[0, 1, 2, 0]], np.int32)  # FIRST, MID, LAST, FIRST
    observation = rng.normal(size=(1, 4, 4)).astype(np.float32)
    action = np.array([[1, 0, 1, 0]], np.int64)
    reward = np.array([[1.0, 1.0, 0.0, 0.0]], np.float32)
    discount = np.array([[1.0, 0.0, 1.0, 0.0]], np.float32)  # terminated after step 1
    experience = agent.collect_data_spec._replace(
        step_type=tf.constant(step_type),
        observation=tf.constant(observation),
        action=tf.constant(action),
        reward=tf.constant(reward),
        discount=tf.constant(discount),
        policy_info=(),
        next_step_type=tf.constant(step_type),
    )
    loss_info = agent.loss(experience)
    (logits, values), _ = net(tf.constant(observation), step_type=tf.constant(step_type))
    logits, values = logits.numpy()[0], values.numpy()[0]
    # Step 1 ends the episode (discount 0): R_1 = r_1, R_0 = r_0 + gamma R_1.
    returns = {1: reward[0, 1], 0: reward[0, 0] + gamma * reward[0, 1]}
    log_pi = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = 0.0
    for t, ret in returns.items():
        adv = ret - values[t]
        entropy = -(np.exp(log_pi[t]) * log_pi[t]).sum()
        expected += -log_pi[t, action[0, t]] * adv + c * adv**2 - beta * entropy
    np.testing.assert_allclose(loss_info.loss.numpy(), expected, rtol=1e-5)


def test_policy_exports_with_serving_default_and_answers_through_serving(tmp_path):
    env, agent, buffer, driver = _pipeline()
    agent.train(_collect(driver, buffer))
    export_dir = save_policy(
        agent.policy, str(tmp_path / "a2c" / "1"), train_step=agent.train_step_counter
    )

    time_step = env.reset()
    inputs = {
        "0/step_type": time_step.step_type,
        "0/reward": time_step.reward,
        "0/discount": time_step.discount,
        "0/observation": time_step.observation,
    }
    inputs = {k: v.numpy() for k, v in inputs.items()}
    # A fresh process that never imported tfgen (nor tf-agents) loads and runs it.
    outputs = fresh_process.signature_outputs(
        export_dir, {"serving_default": inputs, "action": inputs, "get_train_step": {}}, tmp_path
    )
    np.testing.assert_array_equal(outputs["serving_default"]["action"].shape, [BATCH])
    assert set(outputs["serving_default"]["action"]) <= {0, 1}
    assert set(outputs["action"]) == set(outputs["serving_default"])
    assert int(outputs["get_train_step"]["int64"]) == 1
    # A batch of initial states is bounded, so one request cannot ask for gigabytes of zeros.
    get_initial_state = tf.saved_model.load(export_dir).signatures["get_initial_state"]
    get_initial_state(batch_size=tf.constant(BATCH))
    for batch_size in (-1, 2**31 - 1):
        with pytest.raises(tf.errors.InvalidArgumentError, match="`batch_size` in"):
            get_initial_state(batch_size=tf.constant(batch_size))

    server = ServerProcess("--model_name=a2c", f"--model_base_path={tmp_path / 'a2c'}")
    try:
        client = Client(server.address)
        _, outputs = client.predict("a2c", inputs)
        client.close()
    finally:
        assert server.terminate() == 0
    assert outputs["action"].shape == (BATCH,) and set(outputs["action"]) <= {0, 1}


def test_save_policy_refuses_an_existing_directory(tmp_path):
    _, agent, _, _ = _pipeline()
    with pytest.raises(ValueError, match="expected a new directory"):
        save_policy(agent.policy, str(tmp_path))


def test_rejects_a_network_that_is_not_an_actor_critic():
    env = _env()
    with pytest.raises(TypeError, match="expected a NoisyActorCriticNetwork"):
        A2CAgent(
            env.time_step_spec(), env.action_spec(), object(), tf.keras.optimizers.RMSprop(1e-3)
        )
