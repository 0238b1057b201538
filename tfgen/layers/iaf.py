"""Inverse autoregressive flow of WaveNet-like flows (Parallel WaveNet, arXiv 1711.10433).

Sec. 3 of the paper: the student transforms white logistic noise z into audio
in one parallel pass. Each flow i is a causal WaveNet (`WaveNetStack` with two
output channels) over its own input x^{i-1} (x^0 = z) emitting a location
mu^i_t and a log-scale log s^i_t from x^{i-1}_<t, and

    x^i_t = x^{i-1}_t * s^i_t + mu^i_t.

Composed analytically (Sec. 3, "the total ... output"), the whole stack is one
affine map per step, `x_t = z_t * s^tot_t + mu^tot_t` with
`s^tot = prod_i s^i` and `mu^tot = sum_i mu^i prod_{j > i} s^j`, both
functions of z_<t only: the output distribution p_S(x_t | z_<t) is a
logistic with location mu^tot_t and scale s^tot_t, and the log-determinant of
dx/dz is `sum_t log s^tot_t = sum_t sum_i log s^i_t`.
"""

import contextlib
import math

import tensorflow as tf

from tfgen.checks import check_int
from tfgen.layers.wavenet_block import WaveNetStack


def _policy_name(dtype):
    """The name of the Keras dtype policy `dtype` (a name or a `Policy`)."""
    try:
        return tf.keras.mixed_precision.Policy(
            dtype.name if isinstance(dtype, tf.keras.mixed_precision.Policy) else dtype
        ).name
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"flow_dtype: expected a dtype policy name such as 'float32' or "
            f"'mixed_bfloat16', got {dtype!r}."
        ) from error


@contextlib.contextmanager
def _global_policy(policy):
    """Sets the global dtype policy (unless None) while the flows are built.

    A `WaveNetStack` builds its sublayers under the global policy, not its own.
    """
    previous = tf.keras.mixed_precision.global_policy()
    if policy is not None:
        tf.keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        tf.keras.mixed_precision.set_global_policy(previous)


@tf.keras.saving.register_keras_serializable(package="tfgen")
class InverseAutoregressiveFlow(tf.keras.layers.Layer):
    """A stack of IAF flows, each a WaveNet emitting location and log-scale.

    A flow of `L` layers is a `WaveNetStack` of `L / min(L, layers_per_stack)`
    repetitions of `min(L, layers_per_stack)` dilated layers (the paper's
    flows of 10, 10, 10, 30 layers are 1, 1, 1 and 3 stacks of dilations
    1..512). The last 1x1 of every flow starts at zero with biases
    `(0, log(initial_scale) / num_flows)`, so at initialisation the student is
    `x = initial_scale * z`: small scales, as public attempts found necessary.

    With `flow_dtype="mixed_bfloat16"` the flows' WaveNets compute in bfloat16
    (float32 weights, Keras mixed precision) but for their last 1x1, which
    emits the location and log-scale in float32; the noise, the composition
    `x = x s + mu` and the sums of log-scales stay float32, and the layer
    never casts its inputs.

    Reference:
      van den Oord et al. 2017, "Parallel WaveNet: Fast High-Fidelity Speech
      Synthesis", arXiv 1711.10433, Sec. 3 (one flow
      `x_t = z_t * s(z_<t) + mu(z_<t)`, and the composed `s_tot`, `mu_tot`
      of a stack of flows).

    Args:
      flow_layers: sequence of ints, dilated layers per flow.
      layers_per_stack: int, layers per repetition of the dilation pattern.
      residual_channels: int, residual channels of every flow.
      skip_channels: int, skip channels of every flow.
      filter_width: int, taps of every causal convolution.
      global_conditioning: bool, flows take a global condition h [batch, G].
      local_conditioning: bool, flows take a local condition y [batch, time, L].
      initial_scale: float > 0, the composed scale s^tot at initialisation.
      flow_dtype: dtype policy name of the flows' WaveNets ("float32",
        "mixed_bfloat16", ...); None: the global policy.
      **kwargs: base `tf.keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
      inputs: float z [batch, time], the logistic noise.
      global_condition: float [batch, G] or None.
      local_condition: float [batch, time, L] or None.

    Returns:
      `(x, loc, log_scale)`, each float [batch, time]: the sample
      `x = z * exp(log_scale) + loc`, and the composed location mu^tot and
      log-scale log s^tot of the logistic p_S(x_t | z_<t).

    Example:

    >>> flow = InverseAutoregressiveFlow(flow_layers=(2, 2), layers_per_stack=2,
    ...                                  residual_channels=4, skip_channels=4,
    ...                                  initial_scale=0.5)
    >>> z = tf.random.stateless_uniform([2, 12], seed=[0, 1])
    >>> x, loc, log_scale = flow(z)
    >>> x.shape, loc.shape, log_scale.shape
    (TensorShape([2, 12]), TensorShape([2, 12]), TensorShape([2, 12]))
    >>> bool(tf.reduce_all(tf.abs(x - 0.5 * z) < 1e-6))  # x = initial_scale * z at first
    True
    """

    # Parallel WaveNet (1711.10433) Sec. 3: x_t = z_t * s(z_<t) + mu(z_<t), flows composed.
    def __init__(
        self,
        flow_layers=(10, 10, 10, 30),
        layers_per_stack=10,
        residual_channels=64,
        skip_channels=128,
        filter_width=2,
        global_conditioning=False,
        local_conditioning=False,
        initial_scale=0.05,
        flow_dtype=None,
        **kwargs,
    ):
        super().__init__(**{"autocast": False, **kwargs})
        if (
            isinstance(flow_layers, (str, bytes))
            or not hasattr(flow_layers, "__len__")
            or not flow_layers
        ):
            raise ValueError(
                f"flow_layers: expected a non-empty list of ints, got {flow_layers!r}."
            )
        self.flow_layers = [check_int(n, "flow_layers") for n in flow_layers]
        self.layers_per_stack = check_int(layers_per_stack, "layers_per_stack")
        self.residual_channels = check_int(residual_channels, "residual_channels")
        self.skip_channels = check_int(skip_channels, "skip_channels")
        self.filter_width = check_int(filter_width, "filter_width")
        self.global_conditioning = bool(global_conditioning)
        self.local_conditioning = bool(local_conditioning)
        if (
            isinstance(initial_scale, bool)
            or not isinstance(initial_scale, (int, float))
            or not initial_scale > 0
        ):
            raise ValueError(f"initial_scale: expected a float > 0, got {initial_scale!r}.")
        self.initial_scale = float(initial_scale)
        self.flow_dtype = None if flow_dtype is None else _policy_name(flow_dtype)
        bias = math.log(self.initial_scale) / len(self.flow_layers)
        self.flows = []
        for index, layers in enumerate(self.flow_layers):
            per_stack = min(layers, self.layers_per_stack)
            if layers % per_stack:
                raise ValueError(
                    f"flow_layers[{index}]: expected a multiple of "
                    f"layers_per_stack={per_stack}, got {layers}."
                )
            with _global_policy(self.flow_dtype):
                stack = WaveNetStack(
                    2,
                    layers // per_stack,
                    per_stack,
                    self.residual_channels,
                    self.skip_channels,
                    self.filter_width,
                    self.global_conditioning,
                    self.local_conditioning,
                    name=f"flow_{index}",
                )
            # The last 1x1 emits (mu, log s) in float32 whatever `flow_dtype`, from zero weights
            # and a log-scale bias log(initial_scale) / F: x = initial_scale * z at first.
            stack.output_projection = tf.keras.layers.Dense(
                2,
                kernel_initializer="zeros",
                bias_initializer=tf.keras.initializers.Constant([0.0, bias]),
                dtype="float32",
                name="output_projection",
            )
            self.flows.append(stack)

    @property
    def receptive_field(self):
        """R: the location and log-scale at t see z_{t-R} .. z_{t-1}, the flows' fields added.

        Flow i's parameters at t see its input at t - R_i .. t - 1, and that input at t' is
        a function of z_{t' - R_1 - ... - R_{i-1}} .. z_{t'}.
        """
        return sum(flow.receptive_field for flow in self.flows)

    def call(self, inputs, global_condition=None, local_condition=None):
        z = tf.convert_to_tensor(inputs, tf.float32)
        if z.shape.rank != 2:
            raise ValueError(f"{self.name}: expected noise of shape [batch, time], got {z.shape}.")
        x, loc, log_scale = z, tf.zeros_like(z), tf.zeros_like(z)
        for flow in self.flows:
            params = flow(
                x[..., None], global_condition=global_condition, local_condition=local_condition
            )
            mu, log_s = params[..., 0], params[..., 1]
            x = x * tf.exp(log_s) + mu  # Sec. 3: one flow, x^i = x^{i-1} s^i + mu^i.
            loc = loc * tf.exp(log_s) + mu  # mu^tot = sum_i mu^i prod_{j>i} s^j.
            log_scale += log_s  # log s^tot = sum_i log s^i.
        return x, loc, log_scale

    def get_config(self):
        return {
            **super().get_config(),
            "flow_layers": list(self.flow_layers),
            "layers_per_stack": self.layers_per_stack,
            "residual_channels": self.residual_channels,
            "skip_channels": self.skip_channels,
            "filter_width": self.filter_width,
            "global_conditioning": self.global_conditioning,
            "local_conditioning": self.local_conditioning,
            "initial_scale": self.initial_scale,
            "flow_dtype": self.flow_dtype,
        }
