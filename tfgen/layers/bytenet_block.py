"""ByteNet's residual blocks and the stack of them (arXiv 1610.10099 Sec. 3.4-3.6, Fig. 3).

`ByteNetBlock` is one residual block on a stream of `2d` channels: layer
normalization before every activation, a 1x1 convolution down to `d`
channels, one dilated 1xk convolution (masked, i.e. causal, in the target
network), and a 1x1 convolution back up to `2d`, plus the input. The
language-model variant puts a Multiplicative Unit (Video Pixel Networks,
arXiv 1610.00527 Sec. 4.1) in place of the ReLU and the dilated convolution.
`ByteNetStack` repeats blocks with dilations 1, 2, 4, 8, 16 in sets; the
causal stack has `step` for generation, one step per block per new byte
(the queues of `tfgen.layers.causal_conv.CausalConv1D`).
"""

import tensorflow as tf

from tfgen.checks import check_int
from tfgen.layers.causal_conv import CausalConv1D
from tfgen.layers.multiplicative import multiplicative_unit

PAPER_DILATIONS = (1, 2, 4, 8, 16)


def _dilated_conv(filters, kernel_size, dilation_rate, causal, name):
    """A masked (causal) or a centred ("same") dilated 1xk convolution."""
    if causal:
        return CausalConv1D(filters, kernel_size, dilation_rate, name=name)
    return tf.keras.layers.Conv1D(
        filters, kernel_size, padding="same", dilation_rate=dilation_rate, name=name
    )


@tf.keras.saving.register_keras_serializable(package="tfgen")
class ByteNetBlock(tf.keras.layers.Layer):
    """ByteNet residual block on a stream of `2d` channels (ReLU or multiplicative variant).

    With `multiplicative=False` (Fig. 3 left, the translation model):

        h = 1x1_d(ReLU(LN(x)))
        y = x + 1x1_2d(ReLU(LN(conv_k,r(ReLU(LN(h))))))

    With `multiplicative=True` (Fig. 3 right, the language model), the
    ReLU and the dilated convolution in the middle become one Multiplicative
    Unit whose four convolutions are that dilated 1xk convolution
    (arXiv 1610.00527 Eq. 4-8, `h' = LN(h)`):

        g1, g2, g3 = sigmoid(conv_k,r(h')), u = tanh(conv_k,r(h'))
        MU(h') = g1 * tanh(g2 * h' + g3 * u)
        y = x + 1x1_2d(ReLU(LN(MU(h'))))

    LN is layer normalization over the channels of each time step, which
    never mixes time steps (1610.10099 Sec. 3.6); `conv_k,r` is masked
    (causal) when `causal=True`, else centred. In the figure the residual
    multiplicative block of Video Pixel Networks (which stacks two MUs) is
    adapted to ByteNet's `2d -> d -> 2d` block; here one MU takes the place
    of the middle unit, so both variants see the same `(k - 1) r + 1` steps.

    Reference:
      Kalchbrenner et al. 2016, "Neural Machine Translation in Linear Time",
      arXiv 1610.10099, Sec. 3.4 (masked convolutions), 3.5 (dilation), 3.6
      and Fig. 3 (residual blocks); Kalchbrenner et al. 2016, "Video Pixel
      Networks", arXiv 1610.00527, Sec. 4.1, Eq. 4-8 (the Multiplicative
      Unit); `step`: Paine et al. 2016, arXiv 1611.09482, Sec. 2.

    Args:
      hidden_units: int d; the block's input and output have `2d` channels.
      kernel_size: int k, taps of the dilated convolution.
      dilation_rate: int r, time steps between taps.
      causal: bool, a masked (causal) convolution, for the target network;
        else centred ("same" padding), for the source network.
      multiplicative: bool, the Multiplicative Unit variant.
      **kwargs: base `tf.keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
      inputs: float [batch, time, 2d].

    Returns:
      Float [batch, time, 2d].

    Example:

    >>> block = ByteNetBlock(hidden_units=4, kernel_size=3, dilation_rate=2)
    >>> x = tf.random.stateless_normal([2, 10, 8], seed=[0, 1])
    >>> block(x).shape
    TensorShape([2, 10, 8])
    >>> queue, outputs = block.initial_queue(2), []
    >>> for t in range(10):
    ...     output, queue = block.step(x[:, t], queue, t)
    ...     outputs.append(output)
    >>> bool(tf.reduce_all(tf.abs(tf.stack(outputs, axis=1) - block(x)) < 1e-4))
    True
    """

    # 1610.10099 Sec. 3.6, Fig. 3 (left: ReLU block; right: MU of 1610.00527 Eq. 4-8).
    def __init__(
        self,
        hidden_units,
        kernel_size=3,
        dilation_rate=1,
        causal=True,
        multiplicative=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_units = check_int(hidden_units, "hidden_units")
        self.kernel_size = check_int(kernel_size, "kernel_size")
        self.dilation_rate = check_int(dilation_rate, "dilation_rate")
        self.causal = bool(causal)
        self.multiplicative = bool(multiplicative)
        d = self.hidden_units
        self.input_norm = tf.keras.layers.LayerNormalization(name="input_norm")
        self.reduce = tf.keras.layers.Dense(d, name="reduce")  # 1x1, 2d -> d
        self.middle_norm = tf.keras.layers.LayerNormalization(name="middle_norm")
        # The MU's g1, g2, g3 and u convolutions side by side: 4d filters.
        filters = 4 * d if self.multiplicative else d
        self.dilated_conv = _dilated_conv(
            filters, self.kernel_size, self.dilation_rate, self.causal, "dilated_conv"
        )
        self.output_norm = tf.keras.layers.LayerNormalization(name="output_norm")
        self.expand = tf.keras.layers.Dense(2 * d, name="expand")  # 1x1, d -> 2d

    def build(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        if input_shape.rank != 3 or input_shape[-1] != 2 * self.hidden_units:
            raise ValueError(
                f"{self.name}: expected inputs [batch, time, {2 * self.hidden_units}] "
                f"(2 * hidden_units), got {input_shape}."
            )
        super().build(input_shape)

    def _reduced(self, inputs):
        """LN(1x1_d(ReLU(LN(x)))), the input of the middle unit."""
        return self.middle_norm(self.reduce(tf.nn.relu(self.input_norm(inputs))))

    def _conv_input(self, h):
        return h if self.multiplicative else tf.nn.relu(h)

    def _outputs(self, inputs, h, conv):
        """The residual output from the middle unit's input h and its convolution."""
        if self.multiplicative:
            # 1610.00527 Eq. 4-8: MU(h) = g1 * tanh(g2 * h + g3 * u).
            middle = multiplicative_unit(conv, h)
        else:
            middle = conv
        return inputs + self.expand(tf.nn.relu(self.output_norm(middle)))

    def call(self, inputs):
        h = self._reduced(inputs)
        return self._outputs(inputs, h, self.dilated_conv(self._conv_input(h)))

    def _check_causal(self):
        if not self.causal:
            raise ValueError(
                f"{self.name}: step/initial_queue expected a causal block, got causal=False."
            )

    def initial_queue(self, batch_size):
        """The masked convolution's queue before time 0 (see `CausalConv1D`)."""
        self._check_causal()
        return self.dilated_conv.initial_queue(batch_size)

    def step(self, inputs, queue, time):
        """The output at `time` from the input at `time` and the queue (causal blocks only).

        Args:
          inputs: float [batch, 2d], the input at `time`.
          queue: from `initial_queue` or the previous `step`.
          time: int32 scalar, the current time (0, 1, 2, ...).

        Returns:
          `(outputs [batch, 2d], new_queue)`.
        """
        self._check_causal()
        x = inputs[:, None]  # one time step: the layer norms were built on [batch, time, ...]
        h = self._reduced(x)
        conv, queue = self.dilated_conv.step(self._conv_input(h)[:, 0], queue, time)
        return self._outputs(x, h, conv[:, None])[:, 0], queue

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "hidden_units": self.hidden_units,
            "kernel_size": self.kernel_size,
            "dilation_rate": self.dilation_rate,
            "causal": self.causal,
            "multiplicative": self.multiplicative,
        }


@tf.keras.saving.register_keras_serializable(package="tfgen")
class ByteNetStack(tf.keras.layers.Layer):
    """ByteNet's source or target network body: residual blocks of increasing dilation, in sets.

    Block `i` of `num_sets * len(dilation_rates)` has dilation
    `dilation_rates[i % len(dilation_rates)]` (the paper: 1, 2, 4, 8, 16,
    repeated). A causal stack's output at t depends on its inputs at times
    t - R + 1 .. t, with R = `receptive_field`; a non-causal one's on
    the inputs within (R - 1) / 2 steps on either side (odd k).

    An optional `sequence_mask` [batch, time] multiplies the input and the
    output of every block, so the stack computes over the masked-in steps
    alone and reads zeros elsewhere, whatever the padding around them.

    Reference:
      Kalchbrenner et al. 2016, "Neural Machine Translation in Linear Time",
      arXiv 1610.10099, Sec. 3.5 (dilations 1, 2, 4, 8, 16 in sets), 3.6;
      `step`: Paine et al. 2016, arXiv 1611.09482, Sec. 2.

    Args:
      hidden_units: int d; inputs and outputs have `2d` channels.
      kernel_size: int k of every dilated convolution.
      dilation_rates: sequence of ints, the dilations of one set.
      num_sets: int, repetitions of the set.
      causal: bool, masked (target network) or centred (source network).
      multiplicative: bool, Multiplicative Unit blocks.
      **kwargs: base `tf.keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
      inputs: float [batch, time, 2d].
      sequence_mask: optional bool or float [batch, time].

    Returns:
      Float [batch, time, 2d].

    Example:

    >>> stack = ByteNetStack(hidden_units=4, dilation_rates=(1, 2), num_sets=2)
    >>> stack(tf.zeros([2, 12, 8])).shape
    TensorShape([2, 12, 8])
    >>> stack.dilations, stack.receptive_field
    ([1, 2, 1, 2], 13)
    """

    # 1610.10099 Sec. 3.5: blocks with dilations 1, 2, 4, 8, 16, repeated in sets.
    def __init__(
        self,
        hidden_units,
        kernel_size=3,
        dilation_rates=PAPER_DILATIONS,
        num_sets=1,
        causal=True,
        multiplicative=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_units = check_int(hidden_units, "hidden_units")
        self.kernel_size = check_int(kernel_size, "kernel_size")
        if not isinstance(dilation_rates, (list, tuple)) or not dilation_rates:
            raise ValueError(
                f"dilation_rates: expected a non-empty sequence of ints, got {dilation_rates!r}."
            )
        self.dilation_rates = tuple(check_int(r, "dilation_rates") for r in dilation_rates)
        self.num_sets = check_int(num_sets, "num_sets")
        self.causal = bool(causal)
        self.multiplicative = bool(multiplicative)
        self.blocks = [
            ByteNetBlock(
                self.hidden_units,
                self.kernel_size,
                rate,
                self.causal,
                self.multiplicative,
                name=f"block_{index}",
            )
            for index, rate in enumerate(self.dilations)
        ]

    @property
    def dilations(self):
        """The dilation of every block: `dilation_rates * num_sets`."""
        return list(self.dilation_rates) * self.num_sets

    @property
    def receptive_field(self):
        """Input steps one output sees: `(kernel_size - 1) * sum(dilations) + 1`."""
        return (self.kernel_size - 1) * sum(self.dilations) + 1

    def call(self, inputs, sequence_mask=None):
        mask = None if sequence_mask is None else tf.cast(sequence_mask, inputs.dtype)[..., None]
        x = inputs if mask is None else inputs * mask
        for block in self.blocks:
            x = block(x)
            x = x if mask is None else x * mask
        return x

    def initial_queues(self, batch_size):
        """Every block's queue before time 0, a list (causal stacks only)."""
        return [block.initial_queue(batch_size) for block in self.blocks]

    def step(self, inputs, queues, time):
        """The output at `time` from the input at `time` (causal stacks only).

        Args:
          inputs: float [batch, 2d].
          queues: list from `initial_queues` or the previous `step`.
          time: int32 scalar.

        Returns:
          `(outputs [batch, 2d], new_queues)`.
        """
        x, new_queues = inputs, []
        for block, queue in zip(self.blocks, queues):
            x, queue = block.step(x, queue, time)
            new_queues.append(queue)
        return x, new_queues

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "hidden_units": self.hidden_units,
            "kernel_size": self.kernel_size,
            "dilation_rates": list(self.dilation_rates),
            "num_sets": self.num_sets,
            "causal": self.causal,
            "multiplicative": self.multiplicative,
        }
