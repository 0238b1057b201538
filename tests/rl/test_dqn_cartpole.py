"""NoisyNet-DQN (1706.10295 Sec. 3.1) in a standard tf-agents DQN pipeline on CartPole.

The agent is an unmodified `DqnAgent` with epsilon-greedy exploration off
(`epsilon_greedy=0`): it explores only through the noise of `NoisyQNetwork`.
A uniformly random policy averages about 22 on CartPole-v0; the trained
greedy (noisy) policy must average well above it.
"""

import numpy as np
import pytest
import tensorflow as tf
from tf_agents.agents.dqn import dqn_agent
from tf_agents.drivers import dynamic_step_driver
from tf_agents.environments import suite_gym, tf_py_environment
from tf_agents.policies import random_tf_policy
from tf_agents.replay_buffers import tf_uniform_replay_buffer
from tf_agents.utils import common

from tfgen.rl.networks import NoisyQNetwork

TRAIN_STEPS = 5000  # environment steps, one gradient step each after warm-up
WARMUP_STEPS = 500  # collected by the noisy policy itself (no random policy)
EVAL_EPISODES = 10
RETURN_THRESHOLD = 60.0  # random ~22, always-one-action ~9, maximum 200; this run gets 120.4


def _environment(seed):
    py_env = suite_gym.load("CartPole-v0")
    py_env.seed(seed)
    return tf_py_environment.TFPyEnvironment(py_env)


def _average_return(env, policy, episodes):
    """Mean undiscounted return of `policy` over `episodes` complete episodes."""
    run_step = common.function(lambda ts, state: policy.action(ts, state))
    returns = []
    for _ in range(episodes):
        time_step, state, total = env.reset(), policy.get_initial_state(env.batch_size), 0.0
        while not time_step.is_last():
            step = run_step(time_step, state)
            state = step.state
            time_step = env.step(step.action)
            total += float(time_step.reward[0])
        returns.append(total)
    return float(np.mean(returns))


def _train_noisy_dqn(env):
    q_net = NoisyQNetwork(env.observation_spec(), env.action_spec(), fc_layer_params=(64, 64))
    agent = dqn_agent.DqnAgent(
        env.time_step_spec(),
        env.action_spec(),
        q_network=q_net,
        optimizer=tf.keras.optimizers.Adam(1e-3),
        epsilon_greedy=0.0,
        target_update_period=100,
        gamma=0.95,
        td_errors_loss_fn=common.element_wise_huber_loss,
        train_step_counter=tf.Variable(0, dtype=tf.int64),
    )
    agent.initialize()
    buffer = tf_uniform_replay_buffer.TFUniformReplayBuffer(
        agent.collect_data_spec, batch_size=env.batch_size, max_length=20000
    )
    driver = dynamic_step_driver.DynamicStepDriver(
        env, agent.collect_policy, observers=[buffer.add_batch], num_steps=1
    )
    collect = common.function(driver.run)

    @common.function
    def collect_and_train(time_step, state):
        time_step, state = driver.run(time_step, state)
        # Sampled in-graph (not a parallel tf.data map) so the run is reproducible.
        experience, _ = buffer.get_next(sample_batch_size=64, num_steps=2)
        agent.train(experience)
        return time_step, state

    time_step, state = None, None
    for _ in range(WARMUP_STEPS):
        time_step, state = collect(time_step, state)
    for _ in range(TRAIN_STEPS):
        time_step, state = collect_and_train(time_step, state)
    return agent


@pytest.mark.slow
def test_noisy_dqn_learns_cartpole_without_epsilon_greedy():
    env = _environment(seed=0)
    random_return = _average_return(
        env, random_tf_policy.RandomTFPolicy(env.time_step_spec(), env.action_spec()), EVAL_EPISODES
    )
    agent = _train_noisy_dqn(env)
    eval_env = _environment(seed=1)
    trained_return = _average_return(eval_env, agent.policy, EVAL_EPISODES)
    print(f"random policy {random_return:.1f}, NoisyNet-DQN {trained_return:.1f}")
    assert random_return < 40.0
    assert trained_return > RETURN_THRESHOLD
