"""tf-agents networks with NoisyNet layers (Fortunato et al. 2017, arXiv 1706.10295).

* `NoisyQNetwork`: a drop-in replacement for `tf_agents.networks.q_network.QNetwork`
  (same constructor arguments, plus `noise` and `sigma_0`) whose fully
  connected layers and Q head are `NoisyDense` (NoisyNet-DQN, Sec. 3.1).
* `NoisyDuelingQNetwork`: the same with the dueling head of Wang et al. 2016
  (arXiv 1511.06581, Eq. 9), `Q = V + A - mean_a A` (NoisyNet-Dueling).
* `NoisyActorCriticNetwork`: the A3C network (Mnih et al. 2016, arXiv
  1602.01783, Sec. 8 / 5.1): shared torso, optional LSTM, a softmax policy
  head and a linear value head, with noisy fully connected layers
  (NoisyNet-A3C, Sec. 3.1). It returns `(logits, value)`; its
  `actor_network()` view returns the action distribution for
  `tf_agents.policies.actor_policy.ActorPolicy` and drivers.

Use with an unmodified `DqnAgent` and epsilon-greedy exploration off:

```python
q_net = NoisyQNetwork(env.observation_spec(), env.action_spec(), fc_layer_params=(64,))
agent = dqn_agent.DqnAgent(env.time_step_spec(), env.action_spec(), q_network=q_net,
                           optimizer=tf.keras.optimizers.Adam(1e-3), epsilon_greedy=0.0)
```

The agent's target network is `q_net.copy()`, which rebuilds the network from
its constructor keyword arguments with new variables; it draws its own noise,
as NoisyNet-DQN's target network does (Sec. 3.1, Algorithm 1).

Noise is on in every call, whatever `training` says (tf-agents collects with
`training=False`, and NoisyNet explores through the noise). `network.noisy =
False` switches every noisy layer to its mean (evaluate it before tracing the
function that uses it). Every `call` also takes `noise_seed` (None, or a [2]
int tensor): with a seed the noise is a deterministic function of it, so a
sampled network can be held fixed over a rollout and replayed for its gradient.
"""

import tensorflow as tf
import tensorflow_probability as tfp
from tf_agents.keras_layers import dynamic_unroll_layer, permanent_variable_rate_dropout
from tf_agents.networks import encoding_network, network, q_network
from tf_agents.specs import distribution_spec, tensor_spec
from tf_agents.trajectories import time_step as ts
from tf_agents.utils import nest_utils

from tfgen.layers.noisy_dense import NoisyDense, split_noise_seed

__all__ = ["NoisyActorCriticNetwork", "NoisyDuelingQNetwork", "NoisyQNetwork"]


def _num_actions(action_spec, input_tensor_spec):
    """Number of discrete actions of a single bounded scalar action spec."""
    q_network.validate_specs(action_spec, input_tensor_spec)
    action_spec = tf.nest.flatten(action_spec)[0]
    if not action_spec.dtype.is_integer:
        raise TypeError(
            f"action_spec: expected an integer (discrete) action, "
            f"got dtype {action_spec.dtype.name}."
        )
    return int(action_spec.maximum) - int(action_spec.minimum) + 1


def _torso(
    input_tensor_spec,
    preprocessing_layers,
    preprocessing_combiner,
    conv_layer_params,
    activation_fn,
    kernel_initializer,
    batch_squash,
    dtype,
):
    """The noise-free part of the encoder: preprocessing, convolutions, flatten.

    NoisyNet keeps the convolutional layers deterministic and makes the fully
    connected ones noisy (Sec. 3.1), so the fully connected layers of
    tf-agents' `EncodingNetwork` are left out here and built by `_noisy_stack`.
    """
    return encoding_network.EncodingNetwork(
        input_tensor_spec,
        preprocessing_layers=preprocessing_layers,
        preprocessing_combiner=preprocessing_combiner,
        conv_layer_params=conv_layer_params,
        fc_layer_params=None,
        activation_fn=activation_fn,
        kernel_initializer=kernel_initializer,
        batch_squash=batch_squash,
        dtype=dtype,
    )


def _noisy_stack(
    fc_layer_params,
    dropout_layer_params,
    activation_fn,
    kernel_initializer,
    noise,
    sigma_0,
    dtype,
    prefix="fc",
):
    """Noisy fully connected layers `{prefix}_{i}`, each optionally followed by dropout."""
    fc_layer_params = tuple(fc_layer_params or ())
    if dropout_layer_params is None:
        dropout_layer_params = [None] * len(fc_layer_params)
    if len(dropout_layer_params) != len(fc_layer_params):
        raise ValueError(
            f"dropout_layer_params: expected {len(fc_layer_params)} entries "
            f"(one per fc layer), got {len(dropout_layer_params)}."
        )
    layers = []
    for index, (units, dropout) in enumerate(zip(fc_layer_params, dropout_layer_params)):
        layers.append(
            NoisyDense(
                units,
                activation=activation_fn,
                noise=noise,
                sigma_0=sigma_0,
                mu_initializer=kernel_initializer,
                dtype=dtype,
                name=f"{prefix}_{index}",
            )
        )
        if dropout is not None:
            kwargs = dropout if isinstance(dropout, dict) else {"rate": dropout}
            layers.append(permanent_variable_rate_dropout.PermanentVariableRateDropout(**kwargs))
    return layers


class _NoisyNetwork(network.Network):
    """Base of the noisy networks: the `noisy` switch and per-layer noise seeds."""

    def _noisy_layers(self):
        """The network's `NoisyDense` layers in a fixed order (the seed split order)."""
        return [m for m in self.submodules if isinstance(m, NoisyDense)]

    @property
    def noisy(self):
        """Whether the noisy layers add noise (True) or act as the mean network (False)."""
        return all(layer.noisy for layer in self._noisy_layers())

    @noisy.setter
    def noisy(self, value):
        for layer in self._noisy_layers():
            layer.noisy = bool(value)

    def _run(self, layers, inputs, training, seeds):
        """Applies `layers`, giving each `NoisyDense` its seed from `seeds` (see `_seeds`)."""
        for layer in layers:
            if isinstance(layer, NoisyDense):
                inputs = layer(inputs, noise_seed=seeds[id(layer)])
            else:
                inputs = layer(inputs, training=training)
        return inputs

    def _seeds(self, noise_seed):
        """One stateless seed (or None) per noisy layer, keyed by `id(layer)`."""
        layers = self._noisy_layers()
        return dict(zip([id(layer) for layer in layers], split_noise_seed(noise_seed, len(layers))))


class NoisyQNetwork(_NoisyNetwork):
    """Feed-forward Q network with noisy fully connected layers (NoisyNet-DQN).

    Same structure and arguments as `tf_agents.networks.q_network.QNetwork`:
    preprocessing -> convolutions -> flatten -> fully connected layers -> Q
    layer, with every fully connected layer and the Q layer a `NoisyDense`
    (1706.10295 Sec. 3.1). Plugs into `DqnAgent` / `DdqnAgent` unchanged; set
    their `epsilon_greedy=0.0` to explore with the noise only.

    Args:
      input_tensor_spec: nest of `TensorSpec`s of the observations.
      action_spec: a single bounded integer `BoundedTensorSpec` of shape () or (1,).
      preprocessing_layers, preprocessing_combiner, conv_layer_params,
        dropout_layer_params, batch_squash, dtype: as in `QNetwork`.
      fc_layer_params: units of the noisy fully connected layers.
      activation_fn: activation of the conv and fully connected layers.
      kernel_initializer: initializer of the conv kernels and of the noisy
        layers' `mu_w`; None for tf-agents' conv default and the paper's `mu`.
      q_layer_activation_fn: activation of the Q layer (None: linear).
      noise: "factorised" (the paper's choice for DQN) or "independent".
      sigma_0: noise-scale initialisation; None for the paper's value.
      name: network name.

    Call arguments:
      observation: nest matching `input_tensor_spec`, outer dims [B] or [B, T].
      step_type, network_state: as in `QNetwork` (stateless: `()`).
      training: passed to dropout; the noise ignores it.
      noise_seed: None (fresh noise) or an int tensor [2] (reproducible noise).

    Returns:
      `(q_values, network_state)`, q_values float [B, num_actions] (or [B, T, num_actions]).
    """

    def __init__(
        self,
        input_tensor_spec,
        action_spec,
        preprocessing_layers=None,
        preprocessing_combiner=None,
        conv_layer_params=None,
        fc_layer_params=(75, 40),
        dropout_layer_params=None,
        activation_fn=tf.keras.activations.relu,
        kernel_initializer=None,
        batch_squash=True,
        dtype=tf.float32,
        q_layer_activation_fn=None,
        noise="factorised",
        sigma_0=None,
        name="NoisyQNetwork",
    ):
        num_actions = _num_actions(action_spec, input_tensor_spec)
        torso = _torso(
            input_tensor_spec,
            preprocessing_layers,
            preprocessing_combiner,
            conv_layer_params,
            activation_fn,
            kernel_initializer,
            batch_squash,
            dtype,
        )
        fc_layers = _noisy_stack(
            fc_layer_params,
            dropout_layer_params,
            activation_fn,
            kernel_initializer,
            noise,
            sigma_0,
            dtype,
        )
        q_layer = NoisyDense(
            num_actions,
            activation=q_layer_activation_fn,
            noise=noise,
            sigma_0=sigma_0,
            dtype=dtype,
            name="q_values",
        )
        super().__init__(input_tensor_spec=input_tensor_spec, state_spec=(), name=name)
        self._torso = torso
        self._fc_layers = fc_layers
        self._q_layer = q_layer

    def call(self, observation, step_type=None, network_state=(), training=False, noise_seed=None):
        state, network_state = self._torso(
            observation, step_type=step_type, network_state=network_state, training=training
        )
        seeds = self._seeds(noise_seed)
        q_values = self._run(self._fc_layers + [self._q_layer], state, training, seeds)
        return q_values, network_state


class NoisyDuelingQNetwork(_NoisyNetwork):
    """Dueling Q network with noisy fully connected layers (NoisyNet-Dueling).

    The torso (preprocessing, convolutions, flatten) is shared; a value stream
    and an advantage stream each have their own noisy fully connected layers
    (`fc_layer_params`) and a noisy output layer (1 and `num_actions` units),
    as in Wang et al. 2016 (1511.06581) Fig. 1; they are combined by Eq. 9,
    `Q(s, a) = V(s) + A(s, a) - mean_a' A(s, a')`, and then
    `q_layer_activation_fn` is applied. Arguments, call arguments and returns
    are those of `NoisyQNetwork`.
    """

    def __init__(
        self,
        input_tensor_spec,
        action_spec,
        preprocessing_layers=None,
        preprocessing_combiner=None,
        conv_layer_params=None,
        fc_layer_params=(75, 40),
        dropout_layer_params=None,
        activation_fn=tf.keras.activations.relu,
        kernel_initializer=None,
        batch_squash=True,
        dtype=tf.float32,
        q_layer_activation_fn=None,
        noise="factorised",
        sigma_0=None,
        name="NoisyDuelingQNetwork",
    ):
        num_actions = _num_actions(action_spec, input_tensor_spec)
        torso = _torso(
            input_tensor_spec,
            preprocessing_layers,
            preprocessing_combiner,
            conv_layer_params,
            activation_fn,
            kernel_initializer,
            batch_squash,
            dtype,
        )

        def stream(units, stream_name):
            return _noisy_stack(
                fc_layer_params,
                dropout_layer_params,
                activation_fn,
                kernel_initializer,
                noise,
                sigma_0,
                dtype,
                prefix=f"{stream_name}_fc",
            ) + [NoisyDense(units, noise=noise, sigma_0=sigma_0, dtype=dtype, name=stream_name)]

        value_stream, advantage_stream = stream(1, "value"), stream(num_actions, "advantage")
        super().__init__(input_tensor_spec=input_tensor_spec, state_spec=(), name=name)
        self._torso = torso
        self._value_stream = value_stream
        self._advantage_stream = advantage_stream
        self._q_activation = tf.keras.activations.get(q_layer_activation_fn)

    def call(self, observation, step_type=None, network_state=(), training=False, noise_seed=None):
        state, network_state = self._torso(
            observation, step_type=step_type, network_state=network_state, training=training
        )
        seeds = self._seeds(noise_seed)
        value = self._run(self._value_stream, state, training, seeds)
        advantage = self._run(self._advantage_stream, state, training, seeds)
        # Dueling (1511.06581) Eq. 9: Q = V + (A - mean_a A).
        q_values = value + advantage - tf.reduce_mean(advantage, axis=-1, keepdims=True)
        if self._q_activation is not None:
            q_values = self._q_activation(q_values)
        return q_values, network_state


class NoisyActorCriticNetwork(_NoisyNetwork):
    """A3C actor-critic network with noisy fully connected layers (NoisyNet-A3C).

    preprocessing -> convolutions -> flatten -> noisy fully connected layers
    -> [LSTM] -> two noisy heads: policy logits (softmax policy) and a scalar
    state value, sharing everything below them (A3C, 1602.01783 Sec. 5.1 / 8;
    NoisyNet 1706.10295 Sec. 3.1). The defaults are the paper's NoisyNet-A3C
    (independent Gaussian noise); set `noisy = False` (or
    `sigma_0=0`) for the plain A3C network, which then explores only through
    its softmax policy and the entropy regulariser.

    The LSTM variant (`lstm_size` set) is stateful: `state_spec` is the LSTM's
    `[h, c]`, reset where `step_type == FIRST`, as tf-agents' RNN networks do,
    so it runs one step at a time ([B] inputs) inside drivers and over whole
    rollouts ([B, T] inputs) for the n-step A3C update.

    Interface for A3C / A2C: `call` returns `((logits, value), network_state)`
    from one forward pass (the loss needs both); `actor_network()` returns a
    `tf_agents` `DistributionNetwork` sharing these variables that returns the
    `Categorical` action distribution, for `ActorPolicy`. To hold the network
    sample fixed over a rollout (NoisyNet-A3C, Algorithm 2), pass the same
    `noise_seed` when acting and when computing the rollout's loss.

    Args:
      input_tensor_spec: nest of `TensorSpec`s of the observations.
      action_spec: a single bounded integer `BoundedTensorSpec` of shape () or (1,).
      preprocessing_layers, preprocessing_combiner, conv_layer_params,
        dropout_layer_params, activation_fn, kernel_initializer, batch_squash,
        dtype: as in `NoisyQNetwork`.
      fc_layer_params: units of the shared noisy fully connected layers
        (A3C's feed-forward network has one of 256 after its convolutions).
      lstm_size: None for the feed-forward network, or the LSTM's units
        (256 in A3C's recurrent network).
      noise: "independent" (the paper's choice for A3C) or "factorised".
      sigma_0: noise-scale initialisation; None for the paper's value.
      name: network name.

    Call arguments:
      observation: nest matching `input_tensor_spec`, outer dims [B] or [B, T].
      step_type: int tensor [B] or [B, T]; needed by the LSTM variant.
      network_state: `()` or the LSTM state `[h, c]`, each [B, lstm_size].
      training: passed to dropout; the noise ignores it.
      noise_seed: None (fresh noise) or an int tensor [2] (reproducible noise).

    Returns:
      `((logits, value), network_state)`: logits float [B, (T,) num_actions],
      value float [B, (T,)].
    """

    def __init__(
        self,
        input_tensor_spec,
        action_spec,
        preprocessing_layers=None,
        preprocessing_combiner=None,
        conv_layer_params=None,
        fc_layer_params=(256,),
        dropout_layer_params=None,
        lstm_size=None,
        activation_fn=tf.keras.activations.relu,
        kernel_initializer=None,
        batch_squash=True,
        dtype=tf.float32,
        noise="independent",
        sigma_0=None,
        name="NoisyActorCriticNetwork",
    ):
        num_actions = _num_actions(action_spec, input_tensor_spec)
        torso = _torso(
            input_tensor_spec,
            preprocessing_layers,
            preprocessing_combiner,
            conv_layer_params,
            activation_fn,
            kernel_initializer,
            batch_squash,
            dtype,
        )
        fc_layers = _noisy_stack(
            fc_layer_params,
            dropout_layer_params,
            activation_fn,
            kernel_initializer,
            noise,
            sigma_0,
            dtype,
        )
        lstm, state_spec = None, ()
        if lstm_size is not None:
            if isinstance(lstm_size, bool) or not isinstance(lstm_size, int) or lstm_size < 1:
                raise ValueError(f"lstm_size: expected None or a positive int, got {lstm_size!r}.")
            lstm = dynamic_unroll_layer.DynamicUnroll(
                tf.keras.layers.LSTMCell(lstm_size, dtype=dtype)
            )
            state_spec = [
                tensor_spec.TensorSpec([lstm_size], dtype, name=f"lstm_{part}")
                for part in ("h", "c")
            ]
        heads = [
            NoisyDense(units, noise=noise, sigma_0=sigma_0, dtype=dtype, name=head)
            for units, head in ((num_actions, "policy_logits"), (1, "value"))
        ]
        super().__init__(input_tensor_spec=input_tensor_spec, state_spec=state_spec, name=name)
        self._action_spec = tf.nest.flatten(action_spec)[0]
        self._torso = torso
        self._fc_layers = fc_layers
        self._lstm = lstm
        self._logits_layer, self._value_layer = heads

    @property
    def action_spec(self):
        return self._action_spec

    def _unroll(self, state, step_type, network_state, training, outer_rank):
        """Runs the LSTM over [B, T] (adding T = 1 for single steps); A3C Sec. 8."""
        if outer_rank == 1:
            state, step_type = state[:, tf.newaxis], step_type[:, tf.newaxis]
        reset_mask = tf.equal(step_type, ts.StepType.FIRST)
        if not network_state:
            network_state = None  # DynamicUnroll starts from zeros.
        state, network_state = self._lstm(
            state, reset_mask=reset_mask, initial_state=network_state, training=training
        )
        if outer_rank == 1:
            state = state[:, 0]
        return state, list(network_state)

    def call(self, observation, step_type=None, network_state=(), training=False, noise_seed=None):
        outer_rank = nest_utils.get_outer_rank(observation, self.input_tensor_spec)
        if outer_rank not in (1, 2):
            raise ValueError(
                f"observation: expected outer dims [B] or [B, T], got {outer_rank} outer dims."
            )
        state, _ = self._torso(observation, step_type=step_type, training=training)
        seeds = self._seeds(noise_seed)
        state = self._run(self._fc_layers, state, training, seeds)
        if self._lstm is not None:
            if step_type is None:
                raise ValueError("step_type: expected a tensor for the LSTM network, got None.")
            state, network_state = self._unroll(
                state, step_type, network_state, training, outer_rank
            )
        logits = self._run([self._logits_layer], state, training, seeds)
        value = self._run([self._value_layer], state, training, seeds)[..., 0]
        return (logits, value), network_state

    def actor_network(self, name=None):
        """A `DistributionNetwork` view of the policy head (shares these variables)."""
        return NoisyActorDistributionView(self, name=name)


class NoisyActorDistributionView(network.DistributionNetwork):
    """The policy of a `NoisyActorCriticNetwork` as a tf-agents actor network.

    Returns `Categorical(logits)` over the action spec's values, the output
    `ActorPolicy` expects, and shares every variable with the wrapped network
    (a view, not a copy: `copy()` returns another view of the same network).

    Args:
      actor_critic_network: a `NoisyActorCriticNetwork`.
      name: network name; None for `<wrapped name>_actor`.

    Call arguments:
      As `NoisyActorCriticNetwork`.

    Returns:
      `(distribution, network_state)`; the distribution's batch shape is
      [B, (T,)] + action_spec.shape.
    """

    def __init__(self, actor_critic_network, name=None):
        if not isinstance(actor_critic_network, NoisyActorCriticNetwork):
            raise TypeError(
                f"actor_critic_network: expected a NoisyActorCriticNetwork, "
                f"got {type(actor_critic_network).__name__}."
            )
        action_spec = actor_critic_network.action_spec
        if int(action_spec.minimum) != 0:
            raise ValueError(
                f"action_spec.minimum: expected 0 (Categorical actions), got {action_spec.minimum}."
            )
        num_actions = int(action_spec.maximum) - int(action_spec.minimum) + 1
        name = name or f"{actor_critic_network.name}_actor"
        output_spec = distribution_spec.DistributionSpec(
            tfp.distributions.Categorical,
            {
                "logits": tensor_spec.TensorSpec(
                    action_spec.shape.concatenate([num_actions]), tf.float32, name=f"{name}_logits"
                )
            },
            sample_spec=action_spec,
            dtype=action_spec.dtype,
        )
        super().__init__(
            input_tensor_spec=actor_critic_network.input_tensor_spec,
            state_spec=actor_critic_network.state_spec,
            output_spec=output_spec,
            name=name,
        )
        self._actor_critic_network = actor_critic_network
        self._action_spec = action_spec

    def call(self, observation, step_type=None, network_state=(), training=False, noise_seed=None):
        (logits, _), network_state = self._actor_critic_network(
            observation,
            step_type=step_type,
            network_state=network_state,
            training=training,
            noise_seed=noise_seed,
        )
        # Action shape () or (1,), as the spec says.
        logits = tf.reshape(
            logits,
            tf.concat([tf.shape(logits)[:-1], self._action_spec.shape, tf.shape(logits)[-1:]], 0),
        )
        distribution = tfp.distributions.Categorical(logits=logits, dtype=self._action_spec.dtype)
        return distribution, network_state
