"""A2C: the synchronous advantage actor-critic as a tf-agents `TFAgent`.

The synchronous variant of A3C (Mnih et al. 2016, arXiv 1602.01783): `B`
environments step in lockstep (`TFPyEnvironment(BatchedPyEnvironment(...))` or
`ParallelPyEnvironment`), a driver collects `T` steps of each, and one update
is made from that trajectory with the A3C loss (`tfgen.rl.a3c.rollout_loss`:
n-step returns bootstrapped from the last step, advantage policy gradient,
critic, entropy). Replay-free: train on the trajectory just collected, e.g.

```python
agent = A2CAgent(env.time_step_spec(), env.action_spec(), network, optimizer)
buffer = tf_uniform_replay_buffer.TFUniformReplayBuffer(
    agent.collect_data_spec, batch_size=env.batch_size, max_length=t_max + 1)
driver = dynamic_step_driver.DynamicStepDriver(
    env, agent.collect_policy, [buffer.add_batch], num_steps=(t_max + 1) * env.batch_size)
for _ in range(iterations):
    driver.run()
    agent.train(buffer.gather_all())   # [B, t_max + 1]; the last step only bootstraps
    buffer.clear()
```

`save_policy` exports the policy with tf-agents' `PolicySaver` plus a
`serving_default` alias of `action`, the signature a TF Serving Predict
request runs by default; it loads without tfgen or tf-agents.
"""

import collections
import os
import shutil
import tempfile

import tensorflow as tf
from tf_agents.agents import tf_agent
from tf_agents.policies import actor_policy, policy_saver

from tfgen.rl.a3c import rollout_loss
from tfgen.rl.networks import NoisyActorCriticNetwork
from tfgen.signatures import SignatureLimits, signature_function

__all__ = ["A2CAgent", "A2CLossInfo", "save_policy"]

A2CLossInfo = collections.namedtuple("A2CLossInfo", ("policy_loss", "value_loss", "entropy"))


class A2CAgent(tf_agent.TFAgent):
    """Synchronous advantage actor-critic agent (A3C's loss, one learner, batched envs).

    Args:
      time_step_spec: the environment's `TimeStep` spec.
      action_spec: a bounded scalar integer action spec with minimum 0.
      actor_critic_network: a `tfgen.rl.networks.NoisyActorCriticNetwork`
        (feed-forward or LSTM; `noisy = False` for plain A2C).
      optimizer: a `tf.keras.optimizers.Optimizer`.
      gamma: discount factor.
      entropy_beta: entropy weight (0.01; 0 for the NoisyNet variant).
      value_loss_coef: weight of the critic loss `c (R - V)^2` (1: A3C's Algorithm S3).
      max_gradient_norm: None, or clip the gradient to this global norm.
      train_step_counter: an int64 `tf.Variable`; created if None.
      name: agent name.

    `train(experience)` takes a `Trajectory` with outer dims [B, T] (T >= 2),
    collected by `collect_policy`. The LSTM network starts each trajectory
    from its zero state (and resets at episode starts). Its `LossInfo.extra`
    is an `A2CLossInfo` of scalars.
    """

    def __init__(
        self,
        time_step_spec,
        action_spec,
        actor_critic_network,
        optimizer,
        gamma=0.99,
        entropy_beta=0.01,
        value_loss_coef=1.0,
        max_gradient_norm=None,
        train_step_counter=None,
        name=None,
    ):
        if not isinstance(actor_critic_network, NoisyActorCriticNetwork):
            raise TypeError(
                f"actor_critic_network: expected a NoisyActorCriticNetwork, "
                f"got {type(actor_critic_network).__name__}."
            )
        tf.Module.__init__(self, name=name)
        actor_critic_network.create_variables(time_step_spec.observation)
        self._network = actor_critic_network
        self._optimizer = optimizer
        self._gamma, self._entropy_beta = gamma, entropy_beta
        self._value_loss_coef, self._max_gradient_norm = value_loss_coef, max_gradient_norm
        policy = actor_policy.ActorPolicy(
            time_step_spec,
            action_spec,
            actor_network=actor_critic_network.actor_network(),
            training=False,
        )
        super().__init__(
            time_step_spec,
            action_spec,
            policy=policy,
            collect_policy=policy,
            train_sequence_length=None,
            train_step_counter=train_step_counter,
        )

    @property
    def actor_critic_network(self):
        return self._network

    def _initialize(self):
        return tf.no_op()

    def _loss(self, experience, weights=None, training=False):
        del weights, training  # Every collected transition counts (A3C Algorithm S3).
        loss, terms = rollout_loss(
            self._network, experience, self._gamma, self._entropy_beta, self._value_loss_coef
        )
        return tf_agent.LossInfo(loss, A2CLossInfo(**terms))

    def _train(self, experience, weights=None):
        variables = self._network.trainable_variables
        with tf.GradientTape() as tape:
            loss_info = self._loss(experience, weights)
        gradients = tape.gradient(loss_info.loss, variables)
        pairs = [(g, v) for g, v in zip(gradients, variables) if g is not None]
        if self._max_gradient_norm is not None:
            clipped, _ = tf.clip_by_global_norm([g for g, _ in pairs], self._max_gradient_norm)
            pairs = list(zip(clipped, [v for _, v in pairs]))
        self._optimizer.apply_gradients(pairs)
        self.train_step_counter.assign_add(1)
        return loss_info


def _bounded_initial_state(get_initial_state):
    """PolicySaver's `get_initial_state(batch_size)`, refusing a batch past the limits.

    A recurrent policy's state is `batch_size` rows: unchecked, one request could
    ask for gigabytes of zeros.
    """
    max_examples = SignatureLimits().max_examples
    return signature_function(
        lambda batch_size: get_initial_state(batch_size),  # a flat signature: positional
        [tf.TensorSpec([], tf.int32, name="batch_size")],
        {"batch_size": (0, max_examples)},
    )


def save_policy(policy, export_dir, train_step=None):
    """Exports `policy` with `PolicySaver` plus a `serving_default` alias of `action`.

    The export has PolicySaver's signatures (`action`, `get_initial_state`,
    `get_train_step`, `get_metadata`) and `serving_default`; `get_initial_state`
    refuses a `batch_size` outside [0, `SignatureLimits().max_examples`]. It loads with
    plain `tf.saved_model.load` (no tf-agents or TFP import needed).

    Writes atomically: the SavedModel is written to a temporary sibling
    directory and renamed to `export_dir` (which must not exist).

    Args:
      policy: a tf-agents `TFPolicy`.
      export_dir: the SavedModel directory to create (e.g. `BASE/NAME/1`).
      train_step: None or a scalar int64 `tf.Variable` (`get_train_step`).

    Returns:
      `export_dir`.
    """
    if os.path.exists(export_dir):
        raise ValueError(f"export_dir: expected a new directory, got existing {export_dir!r}.")
    saver = policy_saver.PolicySaver(policy, batch_size=None, train_step=train_step)
    saver.signatures["serving_default"] = saver.signatures["action"]
    saver.signatures["get_initial_state"] = _bounded_initial_state(
        saver.signatures["get_initial_state"]
    )
    # The saved `distribution` function returns a TFP distribution, whose type
    # spec only loads where TFP is imported; a signature-only consumer (TF
    # Serving, a fresh process) must not need it, so it is left out.
    del saver._policy.distribution  # pylint: disable=protected-access
    parent = os.path.dirname(os.path.abspath(export_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-policy-", dir=parent)
    try:
        saver.save(tmp)
        os.rename(tmp, export_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return export_dir
