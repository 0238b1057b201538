"""Asynchronous advantage actor-critic (A3C; Mnih et al. 2016, arXiv 1602.01783).

A3C runs `k` actor-learners, each with its own copy of the environment and
its own copy `theta'` of the parameters. A learner copies the shared
parameters `theta` into `theta'`, acts for `t_max` steps, computes the n-step
actor-critic gradient of that rollout and applies it to `theta` with the
shared RMSProp, without locks (Hogwild; Sec. 4, Algorithm S3). NoisyNet-A3C
(Fortunato et al. 2017, arXiv 1706.10295, Sec. 3.1) is the same learner with
noisy layers and no entropy term: the network sample (noise) is held fixed
over a rollout and reused for its gradient.

On one machine the learners are Python threads sharing `tf.Variable`s
(`A3C(num_threads=k)`). Across machines (`A3C(strategy=ParameterServerStrategy)`)
the shared parameters and RMSProp statistics live on the parameter servers,
the actors run on the coordinator, and every learner step (gradient + shared
RMSProp update) is scheduled on a worker with `ClusterCoordinator.schedule`.
On both paths the gradient is taken at the learner's `theta'`, the parameters
that produced the rollout, never at the shared `theta` of update time (which
other learners may have moved since): on the parameter-server path each
learner keeps a copy of its `theta'` on the parameter servers for the worker.

The critic's gradient is that of `(R - V)^2`, as Algorithm S3 accumulates it
(`value_loss_coef = 1`), and the entropy bonus has weight `beta = 0.01`.

```python
a3c = A3C("CartPole-v1", num_threads=4, fc_layer_params=(64,))
history = a3c.train(frames=100_000)        # [(frame, episode return), ...]
policy = a3c.policy()                      # a tf-agents ActorPolicy
```

Rollouts are tf-agents trajectories ([B, T+1] fields `step_type`,
`observation`, `action`, `reward`, `discount`, the reward and discount being
those that followed the action). They may span episode ends: returns are cut
at `LAST` steps, so one loss serves A3C and the synchronous `A2CAgent`.
"""

import contextlib
import functools
import threading

import numpy as np
import tensorflow as tf
from tf_agents.environments import suite_gym
from tf_agents.policies import actor_policy
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts

from tfgen import registry
from tfgen.rl.networks import NoisyActorCriticNetwork
from tfgen.threads import run_threads

__all__ = [
    "A3C",
    "ActorLearner",
    "DEFAULT_ENV",
    "POLICY_SIGNATURES",
    "SharedRMSProp",
    "actor_critic_loss",
    "make_network",
    "n_step_returns",
    "rollout_loss",
]

DEFAULT_ENV = "CartPole-v1"  # The registry's default environment (`--env`).
# The exported policy's signatures: tf-agents' `PolicySaver` ones plus `serving_default`
# (`tfgen.rl.a2c_agent.save_policy`).
POLICY_SIGNATURES = (
    "serving_default",
    "action",
    "get_initial_state",
    "get_train_step",
    "get_metadata",
)


# A3C Algorithm S3: R <- r_i + gamma R backwards from R = V(s_t) (bootstrap) or 0 (terminal).
def n_step_returns(rewards, discounts, values, bootstrap, gamma):
    """n-step returns of rollouts, cut where `bootstrap` is set.

    `R_t = V_t` where `bootstrap[t]`, else `R_t = r_t + gamma d_t R_{t+1}`
    (`d_t = 0` after a terminal state). `bootstrap` must be set at the last
    step; set it at `LAST` steps too so that returns never cross episodes.

    Args:
      rewards: float [B, T], the reward that followed step t's action.
      discounts: float [B, T], the environment discount that followed it.
      values: float [B, T], `V(s_t)` (treated as constants).
      bootstrap: bool [B, T].
      gamma: the discount factor.

    Returns:
      Float [B, T] returns.
    """
    values = tf.stop_gradient(values)
    bootstrap = tf.cast(bootstrap, values.dtype)
    time_major = [tf.reverse(tf.transpose(x), [0]) for x in (rewards, discounts, values, bootstrap)]

    def step(next_return, inputs):
        reward, discount, value, cut = inputs
        return cut * value + (1.0 - cut) * (reward + gamma * discount * next_return)

    returns = tf.scan(step, time_major, initializer=tf.zeros_like(values[:, 0]))
    return tf.transpose(tf.reverse(returns, [0]))


# A3C Sec. 4 / Algorithm S3: policy gradient with advantage R - V, critic (R - V)^2,
# entropy regulariser beta H(pi(s_t)).
def actor_critic_loss(
    logits, values, actions, returns, weights, entropy_beta=0.01, value_loss_coef=1.0
):
    """The A3C loss, summed over time and averaged over rollouts.

    `loss = sum_t w_t [-log pi(a_t|s_t) (R_t - V_t) + c (R_t - V_t)^2 - beta H(pi(.|s_t))]`,
    with the advantage `R_t - V_t` a constant in the policy term. Its negative
    gradient is Algorithm S3's accumulated `dtheta` (policy) plus `c` times its
    `dtheta_v = sum_i d(R_i - V_i)^2 / dtheta_v'` (critic), plus the entropy
    bonus `beta grad H` of Sec. 4. `c = 1` (the default) is the paper's
    weighting; `c = 0.5`, a common choice elsewhere (the `1/2` of a squared
    error), halves the critic's gradient.

    Args:
      logits: float [B, T, A], policy logits.
      values: float [B, T], `V(s_t)`.
      actions: int [B, T], actions taken.
      returns: float [B, T], n-step returns `R_t`.
      weights: float [B, T], 1 where step t is a transition to learn from.
      entropy_beta: weight `beta` of the entropy regulariser (0.01 in the paper).
      value_loss_coef: weight `c` of the critic loss (1 in Algorithm S3).

    Returns:
      `(loss, terms)`: the scalar loss and a dict of scalars `policy_loss`,
      `value_loss`, `entropy` (weighted sums over time, averaged over B).
    """
    batch = tf.cast(tf.shape(values)[0], values.dtype)
    advantages = returns - values
    negative_log_pi = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(actions, tf.int32), logits=logits
    )
    log_probs = tf.nn.log_softmax(logits)
    entropy = -tf.reduce_sum(tf.exp(log_probs) * log_probs, axis=-1)

    def total(x):
        return tf.reduce_sum(weights * x) / batch

    terms = {
        "policy_loss": total(negative_log_pi * tf.stop_gradient(advantages)),
        "value_loss": total(tf.square(advantages)),
        "entropy": total(entropy),
    }
    loss = (
        terms["policy_loss"]
        + value_loss_coef * terms["value_loss"]
        - entropy_beta * terms["entropy"]
    )
    return loss, terms


def rollout_loss(
    network, rollout, gamma, entropy_beta, value_loss_coef, network_state=(), noise_seed=None
):
    """`actor_critic_loss` of a [B, T+1] rollout under an actor-critic network.

    The last step only bootstraps; so do `LAST` steps (their action is the
    environment's reset). One forward pass over the whole rollout.

    Args:
      network: a `NoisyActorCriticNetwork`.
      rollout: dict (or `Trajectory`) with [B, T+1] `step_type`,
        `observation`, `action`, `reward`, `discount`.
      gamma, entropy_beta, value_loss_coef: as in `actor_critic_loss`.
      network_state: the network state before the rollout (LSTM) or `()`.
      noise_seed: the rollout's noise seed (NoisyNet) or None.

    Returns:
      As `actor_critic_loss`.
    """
    get = rollout.get if isinstance(rollout, dict) else lambda key: getattr(rollout, key)
    step_type = get("step_type")
    (logits, values), _ = network(
        get("observation"), step_type=step_type, network_state=network_state, noise_seed=noise_seed
    )
    length = tf.shape(step_type)[1]
    is_final = tf.equal(tf.range(length), length - 1)[tf.newaxis]
    bootstrap = tf.logical_or(tf.equal(step_type, ts.StepType.LAST), is_final)
    returns = n_step_returns(
        tf.cast(get("reward"), values.dtype),
        tf.cast(get("discount"), values.dtype),
        values,
        bootstrap,
        gamma,
    )
    actions = tf.reshape(get("action"), tf.shape(values))
    weights = 1.0 - tf.cast(bootstrap, values.dtype)
    return actor_critic_loss(
        logits, values, actions, returns, weights, entropy_beta, value_loss_coef
    )


class SharedRMSProp(tf.Module):
    """RMSProp with statistics shared by all learners (A3C Sec. 4, "Optimization").

    `g <- alpha g + (1 - alpha) dtheta^2`, `theta <- theta - eta dtheta / sqrt(g + eps)`,
    with one `g` per parameter, shared, and updated without locks (Hogwild).
    Create it under the strategy scope that holds the parameters (the
    statistics then live beside them, e.g. on the parameter servers).

    Args:
      variables: the shared `tf.Variable`s `theta`.
      decay: `alpha` (0.99 in the paper).
      epsilon: `eps` (0.1 in the paper).
      max_gradient_norm: None, or clip the gradients to this global norm first.
      name: module name.

    Call `apply_gradients(gradients, learning_rate)` with one gradient per
    variable (same order, same shapes); it returns the new update count.
    """

    def __init__(
        self, variables, decay=0.99, epsilon=0.1, max_gradient_norm=None, name="SharedRMSProp"
    ):
        super().__init__(name=name)
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay: expected a float in [0, 1), got {decay!r}.")
        if epsilon <= 0.0:
            raise ValueError(f"epsilon: expected a float > 0, got {epsilon!r}.")
        self.shared_variables = list(variables)
        self.decay, self.epsilon, self.max_gradient_norm = decay, epsilon, max_gradient_norm
        with tf.name_scope(name):
            self.g = [
                tf.Variable(
                    tf.zeros(v.shape, v.dtype),
                    trainable=False,
                    name=v.name.split(":")[0].replace("/", "_") + "_g",
                )
                for v in self.shared_variables
            ]
            self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False, name="iterations")

    @tf.function
    def apply_gradients(self, gradients, learning_rate):
        gradients = list(gradients)
        if len(gradients) != len(self.shared_variables):
            raise ValueError(
                f"gradients: expected {len(self.shared_variables)}, got {len(gradients)}."
            )
        if self.max_gradient_norm is not None:
            gradients, _ = tf.clip_by_global_norm(gradients, self.max_gradient_norm)
        for theta, g, d_theta in zip(self.shared_variables, self.g, gradients):
            g_new = g.assign(self.decay * g + (1.0 - self.decay) * tf.square(d_theta))
            theta.assign_sub(learning_rate * d_theta / tf.sqrt(g_new + self.epsilon))
        return self.iterations.assign_add(1)


def make_network(
    observation_spec,
    action_spec,
    fc_layer_params=(64,),
    lstm_size=None,
    noisy=False,
    name="ActorCritic",
):
    """The A3C network: `NoisyActorCriticNetwork`, its noise on only for NoisyNet-A3C.

    Args:
      observation_spec, action_spec: tf-agents specs.
      fc_layer_params: units of the fully connected layers.
      lstm_size: None (feed-forward policy) or the LSTM size (A3C LSTM, Sec. 8).
      noisy: NoisyNet-A3C (independent Gaussian noise) when True.
      name: network name.

    Returns:
      The network, with variables.
    """
    network = NoisyActorCriticNetwork(
        observation_spec,
        action_spec,
        fc_layer_params=tuple(fc_layer_params),
        lstm_size=lstm_size,
        noise="independent",
        name=name,
    )
    network.noisy = bool(noisy)
    network.create_variables()
    return network


def _load_env(env, index, seed):
    """A tf-agents py environment: `suite_gym.load(env)` or `env(index)`, seeded."""
    environment = suite_gym.load(env) if isinstance(env, str) else env(index)
    environment.seed(seed)
    return environment


class ActorLearner:
    """One A3C actor-learner (Algorithm S3) with its own environment and `theta'`.

    A rollout is one `tf.function` call: `theta' <- theta`, then a
    `tf.while_loop` over `t_max` steps that samples `a_t ~ pi(.|s_t; theta')`
    and steps the Python environment through `tf.numpy_function`. Its update
    is the gradient at that same `theta'`, applied to the shared `theta`
    (which other learners may have changed meanwhile).

    Args:
      a3c: the `A3C` that owns the shared parameters.
      index: the learner's index (names, seeds).
      environment: a tf-agents `PyEnvironment` (unbatched, auto-resetting).

    Attributes:
      network: `theta'`, the learner's own network (on the machine that acts).
      snapshot: the network the gradient is taken at: `network` itself on one
        machine; under a `ParameterServerStrategy`, a copy of `theta'` on the
        parameter servers, written at each sync, that the workers read.

    `run(frames)` repeats `step()` (sync, rollout, update) until the shared
    frame counter reaches `frames`.
    """

    def __init__(self, a3c, index, environment):
        self.a3c, self.index, self.environment = a3c, index, environment
        self.network = self._copy(f"learner{index}")
        self.snapshot = self.network
        if a3c.strategy is not None:
            with a3c.strategy.scope():
                self.snapshot = self._copy(f"snapshot{index}")
        self._rng = np.random.default_rng([a3c.seed, index])
        self._time_step = environment.reset()
        self._state = tf.nest.map_structure(tf.convert_to_tensor, self.network.get_initial_state(1))
        self._episode_return = 0.0
        self._observation_spec = a3c.time_step_spec.observation

    def _copy(self, suffix):
        """A copy of the shared network's structure (its own variables), noise set as A3C's."""
        network = self.a3c.network.copy(name=f"{self.a3c.network.name}_{suffix}")
        network.noisy = self.a3c.noisy
        network.create_variables()
        return network

    def _sync(self):
        """Algorithm S3: theta' <- theta; then the snapshot (if separate) <- theta'."""
        for local, shared in zip(
            self.network.trainable_variables, self.a3c.network.trainable_variables
        ):
            local.assign(shared)
        if self.snapshot is not self.network:
            for snapshot, local in zip(
                self.snapshot.trainable_variables, self.network.trainable_variables
            ):
                snapshot.assign(local)

    def _env_step(self, action):
        """Steps the environment (called from the graph); returns the new time step, flat."""
        self._time_step = self.environment.step(
            action.astype(self.a3c.action_spec.dtype.as_numpy_dtype)
        )
        self._count(self._time_step)
        time_step = self._time_step
        observation = [
            np.asarray(o, s.dtype.as_numpy_dtype)
            for o, s in zip(
                tf.nest.flatten(time_step.observation), tf.nest.flatten(self._observation_spec)
            )
        ]
        return [
            np.asarray(time_step.step_type, np.int32),
            np.float32(time_step.reward),
            np.float32(time_step.discount),
        ] + observation

    def _count(self, time_step):
        """Frame and episode bookkeeping (the shared counter T of Algorithm S3)."""
        self._episode_return += float(time_step.reward)
        episode_return = None
        if time_step.is_last():
            episode_return, self._episode_return = self._episode_return, 0.0
        self.a3c.count_frame(episode_return)

    @tf.function
    def _collect(self, step_type, observation, network_state, noise_seed):
        """theta' <- theta, then `t_max` steps; returns ([1, t_max + 1] rollout, states)."""
        self._sync()
        length = self.a3c.t_max + 1
        flat_specs = tf.nest.flatten(self._observation_spec)
        arrays = {
            key: tf.TensorArray(dtype, size=length)
            for key, dtype in (
                ("step_type", tf.int32),
                ("action", self.a3c.action_spec.dtype),
                ("reward", tf.float32),
                ("discount", tf.float32),
            )
        }
        observations = [
            tf.TensorArray(spec.dtype, size=length, element_shape=spec.shape) for spec in flat_specs
        ]
        initial_state = network_state
        for t in tf.range(self.a3c.t_max):
            arrays["step_type"] = arrays["step_type"].write(t, step_type)
            observations = [
                array.write(t, o) for array, o in zip(observations, tf.nest.flatten(observation))
            ]
            batched = tf.nest.map_structure(lambda o: o[tf.newaxis], observation)
            (logits, _), network_state = self.network(
                batched,
                step_type=step_type[tf.newaxis],
                network_state=network_state,
                noise_seed=noise_seed,
            )
            action = tf.random.categorical(logits, 1, dtype=self.a3c.action_spec.dtype)[0, 0]
            outputs = tf.numpy_function(
                self._env_step,
                [action],
                [tf.int32, tf.float32, tf.float32] + [spec.dtype for spec in flat_specs],
                stateful=True,
            )
            step_type = tf.ensure_shape(outputs[0], [])
            observation = tf.nest.pack_sequence_as(
                self._observation_spec,
                [tf.ensure_shape(o, spec.shape) for o, spec in zip(outputs[3:], flat_specs)],
            )
            arrays["action"] = arrays["action"].write(t, action)
            arrays["reward"] = arrays["reward"].write(t, tf.ensure_shape(outputs[1], []))
            arrays["discount"] = arrays["discount"].write(t, tf.ensure_shape(outputs[2], []))
        # s_{t_max}: bootstrap only (no action); the next rollout acts on it.
        last = self.a3c.t_max
        arrays["step_type"] = arrays["step_type"].write(last, step_type)
        observations = [
            array.write(last, o) for array, o in zip(observations, tf.nest.flatten(observation))
        ]
        arrays["action"] = arrays["action"].write(last, tf.zeros([], self.a3c.action_spec.dtype))
        arrays["reward"] = arrays["reward"].write(last, 0.0)
        arrays["discount"] = arrays["discount"].write(last, 0.0)
        rollout = {key: array.stack()[tf.newaxis] for key, array in arrays.items()}
        rollout["observation"] = tf.nest.pack_sequence_as(
            self._observation_spec, [array.stack()[tf.newaxis] for array in observations]
        )
        return rollout, initial_state, step_type, observation, network_state

    # A3C Algorithm S3: gradients w.r.t. theta' at theta', then the asynchronous update of theta.
    @tf.function
    def _learn(self, rollout, network_state, noise_seed, learning_rate):
        """The rollout's gradient at the snapshot `theta'`, applied to theta by shared RMSProp."""
        with tf.GradientTape() as tape:
            loss, terms = self.a3c.loss(self.snapshot, rollout, network_state, noise_seed)
        gradients = tape.gradient(
            loss,
            self.snapshot.trainable_variables,
            unconnected_gradients=tf.UnconnectedGradients.ZERO,
        )
        self.a3c.optimizer.apply_gradients(gradients, learning_rate)
        return dict(terms, loss=loss)

    def rollout(self, noise_seed):
        """Syncs theta' and acts `t_max` steps; returns (rollout, state before it)."""
        time_step = self._time_step
        rollout, initial_state, _, _, self._state = self._collect(
            tf.constant(time_step.step_type, tf.int32),
            tf.nest.map_structure(tf.convert_to_tensor, time_step.observation),
            self._state,
            noise_seed,
        )
        return rollout, initial_state

    def learn(self, rollout, network_state, noise_seed, learning_rate):
        """Applies the gradient of `rollout` at `theta'` to the shared theta.

        In this thread, or (under a `ParameterServerStrategy`) on a worker.

        Args:
          rollout, network_state: as returned by `rollout`.
          noise_seed: the rollout's noise seed, int64 [2].
          learning_rate: the RMSProp step size `eta`.

        Returns:
          A dict of scalars: `loss` and the terms of `actor_critic_loss`.
        """
        args = (rollout, network_state, noise_seed, tf.constant(learning_rate, tf.float32))
        if self.a3c.coordinator is None:
            return self._learn(*args)
        return self.a3c.coordinator.schedule(self._learn, args=args).fetch()

    def step(self):
        """One sync / rollout / asynchronous update; returns the loss terms."""
        noise_seed = tf.constant(self._rng.integers(0, 2**31 - 1, size=2), tf.int64)
        rollout, network_state = self.rollout(noise_seed)
        return self.learn(rollout, network_state, noise_seed, self.a3c.current_learning_rate())

    def run(self, frames):
        while self.a3c.frames < frames and not self.a3c.stopped:
            self.step()
            self.a3c.updated()


@registry.register(
    "a3c",
    kind=registry.AGENT,
    dataset=DEFAULT_ENV,
    signatures=POLICY_SIGNATURES,
    runtime_args=("env", "num_threads", "seed", "strategy"),
)
class A3C:
    """Asynchronous advantage actor-critic (arXiv 1602.01783) and NoisyNet-A3C.

    Registered as the agent `"a3c"` (`python -m training --model a3c`): its
    hyper-parameters are the keyword defaults below (`tfgen.hparams.defaults`);
    `env`, `num_threads`, `seed` and `strategy` are set by the runner. The
    defaults follow arXiv 1602.01783 Sec. 8 (`t_max = 5`, `gamma = 0.99`,
    `beta = 0.01`, shared RMSProp `alpha = 0.99`, `eps = 0.1`, linear annealing
    of `eta` to 0) with `eta = 3e-3`, within the paper's LogUniform(1e-4, 1e-2)
    range, and a small fully connected network, both suited to CartPole.

    Args:
      env: a `suite_gym` environment name, or `index -> PyEnvironment`.
      num_threads: number of actor-learners `k`.
      fc_layer_params: units of the network's fully connected layers.
      lstm_size: None for the feed-forward policy, else the LSTM policy's size.
      noisy: NoisyNet-A3C (noisy layers, no entropy term by default).
      t_max: rollout length (5 or 20 in the paper).
      gamma: discount factor (0.99).
      entropy_beta: entropy weight; None for the paper's 0.01 (0 for NoisyNet-A3C).
      value_loss_coef: weight `c` of the critic loss `c (R - V)^2`; 1 follows
        Algorithm S3 (the critic's gradient is that of `(R - V)^2`).
      learning_rate: initial RMSProp learning rate `eta`.
      anneal: anneal `eta` linearly to 0 over the frames of `train` (as the paper).
      rmsprop_decay, rmsprop_epsilon: shared RMSProp `alpha` (0.99), `eps` (0.1).
      max_gradient_norm: None, or clip each update's gradient to this global norm.
      seed: seeds the networks, environments and noise.
      strategy: None (threads on one machine) or a
        `tf.distribute.experimental.ParameterServerStrategy`.

    Attributes:
      network: the shared actor-critic network `theta`.
      optimizer: the `SharedRMSProp`.
      frames: the shared frame counter `T`.
      history: `[(frame, episode return), ...]` in completion order.
    """

    def __init__(
        self,
        env=DEFAULT_ENV,
        num_threads=1,
        fc_layer_params=(64,),
        lstm_size=None,
        noisy=False,
        t_max=5,
        gamma=0.99,
        entropy_beta=None,
        value_loss_coef=1.0,
        learning_rate=3e-3,
        anneal=True,
        rmsprop_decay=0.99,
        rmsprop_epsilon=0.1,
        max_gradient_norm=None,
        seed=0,
        strategy=None,
    ):
        if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
            raise ValueError(f"num_threads: expected a positive int, got {num_threads!r}.")
        if isinstance(t_max, bool) or not isinstance(t_max, int) or t_max < 1:
            raise ValueError(f"t_max: expected a positive int, got {t_max!r}.")
        self.noisy, self.t_max, self.gamma, self.seed = bool(noisy), t_max, gamma, seed
        self.entropy_beta = (0.0 if noisy else 0.01) if entropy_beta is None else entropy_beta
        self.value_loss_coef, self.learning_rate, self.anneal = (
            value_loss_coef,
            learning_rate,
            anneal,
        )
        self.frames, self.history, self.stopped = 0, [], False
        self._lock = threading.Lock()
        self._on_episode = self._on_update = self._total = None
        environments = [_load_env(env, i, seed * 1000 + i) for i in range(num_threads)]
        self.time_step_spec = tensor_spec.from_spec(environments[0].time_step_spec())
        self.action_spec = tensor_spec.from_spec(environments[0].action_spec())
        tf.keras.utils.set_random_seed(seed)
        self.strategy = strategy
        self.coordinator = (
            None
            if strategy is None
            else tf.distribute.experimental.coordinator.ClusterCoordinator(strategy)
        )
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            self.network = make_network(
                self.time_step_spec.observation, self.action_spec, fc_layer_params, lstm_size, noisy
            )
            self.optimizer = SharedRMSProp(
                self.network.trainable_variables, rmsprop_decay, rmsprop_epsilon, max_gradient_norm
            )
        self.learners = [ActorLearner(self, i, e) for i, e in enumerate(environments)]

    def checkpoint_items(self):
        """The state a run checkpoints: the shared network and the shared RMSProp."""
        return {"network": self.network, "optimizer": self.optimizer}

    def loss(self, network, rollout, network_state=(), noise_seed=None):
        """`rollout_loss` with this A3C's gamma, beta and critic weight."""
        return rollout_loss(
            network,
            rollout,
            self.gamma,
            self.entropy_beta,
            self.value_loss_coef,
            network_state,
            noise_seed,
        )

    def current_learning_rate(self):
        """`eta`, annealed linearly to 0 over the frames of the current `train` call."""
        if not self.anneal or not self._total:
            return self.learning_rate
        return self.learning_rate * max(0.0, 1.0 - self.frames / self._total)

    def count_frame(self, episode_return=None):
        """Increments `T`; records a finished episode and calls the episode callback."""
        with self._lock:
            self.frames += 1
            if episode_return is not None:
                self.history.append((self.frames, episode_return))
                if self._on_episode is not None:
                    self._on_episode(self.frames, episode_return)

    def updated(self):
        """Calls `train`'s `on_update(frame)` (under the lock) after a learner's update."""
        if self._on_update is not None:
            with self._lock:
                self._on_update(self.frames)

    def train(self, frames, on_episode=None, on_update=None):
        """Runs the `k` actor-learners until the shared counter reaches `frames`.

        Args:
          frames: total environment frames `T_max` (counting earlier calls).
          on_episode: None or `(frame, episode_return) -> None`, called (under
            a lock) whenever a learner finishes an episode.
          on_update: None or `(frame) -> None`, called (under the same lock)
            after each update of the shared parameters, where a runner can
            checkpoint (with one learner, between an update and the next rollout).

        Returns:
          `history`, `[(frame, episode return), ...]`.
        """
        self._on_episode, self._on_update = on_episode, on_update
        self._total, self.stopped = frames, False
        run_threads(
            [
                (f"a3c-learner-{learner.index}", functools.partial(learner.run, frames))
                for learner in self.learners
            ],
            on_error=lambda: setattr(self, "stopped", True),
        )
        return self.history

    def policy(self, noisy=None):
        """A tf-agents `ActorPolicy` over the shared network (for drivers and `PolicySaver`).

        Args:
          noisy: None keeps the network's noise setting; False evaluates the
            mean network (NoisyNet evaluation).
        """
        actor = self.network.actor_network()
        if noisy is not None:
            self.network.noisy = bool(noisy)
        return actor_policy.ActorPolicy(
            self.time_step_spec, self.action_spec, actor_network=actor, training=False
        )
