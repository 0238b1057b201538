"""WaveNet's gated residual block and the stack of them (arXiv 1609.03499 Sec. 2.3-2.5).

`WaveNetStack` is the whole causal network from (shifted) inputs to output
channels: the WaveNet model uses it with softmax or mixture-of-logistics
outputs, and a Parallel WaveNet student flow can use it with
`output_channels=2` (location and log-scale) on logistic noise. Fast
generation, one step of every layer per sample (Paine et al., arXiv
1611.09482), is `tfgen.layers.wavenet_generation.WaveNetGenerator`.
"""

import tensorflow as tf

from tfgen.checks import check_int
from tfgen.layers.causal_conv import CausalConv1D
from tfgen.layers.gated import GatedActivation


def _check_condition(owner, name, wanted, value):
    """Raises a ValueError unless the conditioning tensor `value` is given exactly when `wanted`."""
    if wanted and value is None:
        raise ValueError(f"{owner}: expected a {name} tensor, got None.")
    if not wanted and value is not None:
        raise ValueError(
            f"{owner}: expected no {name} ({name.split('_')[0]}_conditioning=False), got a tensor."
        )


@tf.keras.saving.register_keras_serializable(package="tfgen")
class WaveNetBlock(tf.keras.layers.Layer):
    """Gated residual block with a parameterised skip connection.

    `z = tanh(W_f * x + V_f^T h + V_f,y * y) * sigmoid(W_g * x + V_g^T h + V_g,y * y)`
    with `*` a causal dilated convolution of width `filter_width`, `h` a
    global conditioning vector and `y` local conditioning at the sample rate
    (both optional); then `skip = 1x1(z)` and `residual = x + 1x1(z)`.

    Reference:
      van den Oord et al. 2016, "WaveNet: A Generative Model for Raw Audio",
      arXiv 1609.03499, Sec. 2.3, Eq. 2 (gated activation unit), Sec. 2.4,
      Fig. 4 (residual and skip connections), Sec. 2.5 (global conditioning
      `V^T h` and local conditioning `V * y`).

    Args:
      residual_channels: int R, channels of x and of the residual output.
      skip_channels: int S, channels of the skip output.
      dilation_rate: int d of the dilated convolution.
      filter_width: int, taps of the dilated convolution (2 in the paper).
      global_conditioning: bool, whether `call` takes `global_condition` h.
      local_conditioning: bool, whether `call` takes `local_condition` y.
      residual_output: bool; False for a last block whose residual output
        is unused (it then returns `x` unchanged).
      **kwargs: base `tf.keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
      inputs: float [batch, time, R].
      global_condition: float [batch, G], e.g. a one-hot speaker id.
      local_condition: float [batch, time, L], upsampled features.

    Returns:
      `(residual [batch, time, R], skip [batch, time, S])`.

    Example:

    >>> block = WaveNetBlock(residual_channels=4, skip_channels=6, dilation_rate=2,
    ...                      global_conditioning=True)
    >>> residual, skip = block(tf.zeros([2, 10, 4]), global_condition=tf.one_hot([0, 1], 3))
    >>> residual.shape, skip.shape
    (TensorShape([2, 10, 4]), TensorShape([2, 10, 6]))
    """

    # WaveNet (1609.03499) Sec. 2.3 Eq. 2 (gated unit), Sec. 2.4 Fig. 4 (residual and
    # skip), Sec. 2.5 (global V^T h and local V * y conditioning).
    def __init__(
        self,
        residual_channels,
        skip_channels,
        dilation_rate,
        filter_width=2,
        global_conditioning=False,
        local_conditioning=False,
        residual_output=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.residual_channels = check_int(residual_channels, "residual_channels")
        self.skip_channels = check_int(skip_channels, "skip_channels")
        self.dilation_rate = check_int(dilation_rate, "dilation_rate")
        self.filter_width = check_int(filter_width, "filter_width")
        self.global_conditioning = bool(global_conditioning)
        self.local_conditioning = bool(local_conditioning)
        self.residual_output = bool(residual_output)
        channels = 2 * self.residual_channels  # filter and gate halves
        self.dilated_conv = CausalConv1D(
            channels, self.filter_width, self.dilation_rate, name="dilated_conv"
        )
        self.global_projection = (
            tf.keras.layers.Dense(channels, use_bias=False, name="global_projection")
            if self.global_conditioning
            else None
        )
        self.local_projection = (
            tf.keras.layers.Dense(channels, use_bias=False, name="local_projection")
            if self.local_conditioning
            else None
        )
        self.gate = GatedActivation(name="gate")
        self.skip_projection = tf.keras.layers.Dense(self.skip_channels, name="skip_projection")
        self.residual_projection = (
            tf.keras.layers.Dense(self.residual_channels, name="residual_projection")
            if self.residual_output
            else None
        )

    def call(self, inputs, global_condition=None, local_condition=None):
        _check_condition(self.name, "global_condition", self.global_conditioning, global_condition)
        _check_condition(self.name, "local_condition", self.local_conditioning, local_condition)
        pre = self.dilated_conv(inputs)
        if self.global_conditioning:
            pre += self.global_projection(global_condition)[:, None, :]
        if self.local_conditioning:
            pre += self.local_projection(local_condition)
        z = self.gate(pre)
        # Fig. 4: the residual and skip 1x1s as one product over z.
        kernel, bias = self.output_weights()
        outputs = tf.nn.bias_add(tf.tensordot(z, kernel, 1), bias)
        if not self.residual_output:
            return inputs, outputs
        residual, skip = tf.split(outputs, [self.residual_channels, self.skip_channels], axis=-1)
        return inputs + residual, skip

    def build(self, input_shape):
        gated = tf.TensorShape(input_shape)[:-1].concatenate([self.residual_channels])
        for projection in self._output_projections():
            projection.build(gated)
        super().build(input_shape)

    def _output_projections(self):
        if self.residual_output:
            return (self.residual_projection, self.skip_projection)
        return (self.skip_projection,)

    def output_weights(self):
        """The residual and skip 1x1s side by side (the skip 1x1 alone without `residual_output`).

        Returns:
          `(kernel [R, R + S], bias [R + S])`, or `([R, S], [S])`.
        """
        layers = self._output_projections()
        return tuple(
            tf.concat([getattr(layer, name) for layer in layers], axis=-1)
            for name in ("kernel", "bias")
        )

    def get_config(self):
        return {
            **super().get_config(),
            "residual_channels": self.residual_channels,
            "skip_channels": self.skip_channels,
            "dilation_rate": self.dilation_rate,
            "filter_width": self.filter_width,
            "global_conditioning": self.global_conditioning,
            "local_conditioning": self.local_conditioning,
            "residual_output": self.residual_output,
        }


@tf.keras.saving.register_keras_serializable(package="tfgen")
class WaveNetStack(tf.keras.layers.Layer):
    """The causal WaveNet network: shifted input conv, gated residual blocks, output layers.

    The output at time t depends on inputs at times < t only: the inputs are
    shifted one step to the right (a zero at time 0) before a causal input
    convolution of width `filter_width`. Then `num_stacks` repetitions of
    blocks with dilations 1, 2, 4, ..., 2**(layers_per_stack - 1); the skip
    outputs are summed, and `ReLU -> 1x1 -> ReLU -> 1x1` gives
    `output_channels` per time step.

    Reference:
      van den Oord et al. 2016, "WaveNet: A Generative Model for Raw Audio",
      arXiv 1609.03499, Sec. 2.1, Fig. 2-3 (causal and dilated causal
      convolutions, dilations 1, 2, ..., 512 repeated), Sec. 2.4, Fig. 4 (the
      whole architecture).

    Args:
      output_channels: int, channels per step (256 softmax logits, 3 K mixture
        parameters, 2 for a flow's location and log-scale, ...).
      num_stacks: int, repetitions of the dilation pattern.
      layers_per_stack: int, blocks per repetition (10: dilations 1..512).
      residual_channels: int R.
      skip_channels: int S (also the width of the first output 1x1).
      filter_width: int, taps of every causal convolution.
      global_conditioning, local_conditioning: bool, as for `WaveNetBlock`.
      **kwargs: base `tf.keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
      inputs: float [batch, time, channels], the unshifted input sequence.
      global_condition: float [batch, G] or None.
      local_condition: float [batch, time, L] or None.

    Returns:
      Float [batch, time, output_channels].

    Example:

    >>> stack = WaveNetStack(output_channels=5, num_stacks=1, layers_per_stack=3,
    ...                      residual_channels=4, skip_channels=6)
    >>> stack(tf.zeros([2, 16, 1])).shape
    TensorShape([2, 16, 5])
    >>> stack.dilations, stack.receptive_field
    ([1, 2, 4], 9)
    """

    # WaveNet (1609.03499) Sec. 2.1 (shifted causal input), Sec. 2.4 Fig. 4 (the stack).
    def __init__(
        self,
        output_channels,
        num_stacks=2,
        layers_per_stack=10,
        residual_channels=64,
        skip_channels=128,
        filter_width=2,
        global_conditioning=False,
        local_conditioning=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.output_channels = check_int(output_channels, "output_channels")
        self.num_stacks = check_int(num_stacks, "num_stacks")
        self.layers_per_stack = check_int(layers_per_stack, "layers_per_stack")
        self.residual_channels = check_int(residual_channels, "residual_channels")
        self.skip_channels = check_int(skip_channels, "skip_channels")
        self.filter_width = check_int(filter_width, "filter_width")
        self.global_conditioning = bool(global_conditioning)
        self.local_conditioning = bool(local_conditioning)
        self.input_conv = CausalConv1D(self.residual_channels, self.filter_width, name="input_conv")
        dilations = self.dilations
        self.blocks = [
            WaveNetBlock(
                self.residual_channels,
                self.skip_channels,
                dilation,
                self.filter_width,
                self.global_conditioning,
                self.local_conditioning,
                residual_output=index < len(dilations) - 1,
                name=f"block_{index}",
            )
            for index, dilation in enumerate(dilations)
        ]
        self.output_hidden = tf.keras.layers.Dense(
            self.skip_channels, activation="relu", name="output_hidden"
        )
        self.output_projection = tf.keras.layers.Dense(
            self.output_channels, name="output_projection"
        )

    @property
    def dilations(self):
        """Dilation of every block: `[1, 2, ..., 2**(layers_per_stack - 1)] * num_stacks`."""
        return [2**i for i in range(self.layers_per_stack)] * self.num_stacks

    @property
    def receptive_field(self):
        """Past inputs an output sees: `(filter_width - 1) * (1 + sum(dilations)) + 1`."""
        return (self.filter_width - 1) * (1 + sum(self.dilations)) + 1

    def _head(self, skips):
        return self.output_projection(self.output_hidden(tf.nn.relu(tf.add_n(skips))))

    def call(self, inputs, global_condition=None, local_condition=None):
        shifted = tf.pad(inputs[:, :-1], [[0, 0], [1, 0], [0, 0]])
        x = self.input_conv(shifted)
        skips = []
        for block in self.blocks:
            x, skip = block(x, global_condition=global_condition, local_condition=local_condition)
            skips.append(skip)
        return self._head(skips)

    def get_config(self):
        return {
            **super().get_config(),
            "output_channels": self.output_channels,
            "num_stacks": self.num_stacks,
            "layers_per_stack": self.layers_per_stack,
            "residual_channels": self.residual_channels,
            "skip_channels": self.skip_channels,
            "filter_width": self.filter_width,
            "global_conditioning": self.global_conditioning,
            "local_conditioning": self.local_conditioning,
        }
