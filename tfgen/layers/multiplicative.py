"""Multiplicative units and residual multiplicative blocks of the Video Pixel Network.

Kalchbrenner et al. 2016, "Video Pixel Networks", arXiv 1610.00527, Sec. 4:
the multiplicative unit (MU) gates its input like an LSTM cell without
memory, and the residual multiplicative block (RMB) wraps two MUs between
1x1 convolutions that halve and restore the channels, with a residual
connection. The encoders use dilated, unmasked MUs; the PixelCNN decoders use
masked ones (`tfgen.layers.MaskedConv2D`), whose colour groups carry the
channel chain of a pixel.

Both layers take an optional `context` map (in the decoders, the ConvLSTM's
summary of the past frames) that is projected by a 1x1 convolution and added
to the MU's pre-activations, as the Gated PixelCNN adds a spatial
conditioning map (arXiv 1606.05328, Eq. 5). For sampling, `context_terms`
computes these projections once per frame and `call_cached` reuses them for
every pixel.
"""

import functools

import tensorflow as tf

from tfgen.checks import check_int
from tfgen.layers.masked_conv import MaskedConv2D, _check_kernel_size

_GATES = 4  # g1, g2, g3 and u of one MU (1610.00527 Eq. 5-8).


def _check_mask_type(mask_type):
    if mask_type not in (None, "A", "B"):
        raise ValueError(f"mask_type: expected None, 'A' or 'B', got {mask_type!r}.")
    return mask_type


def _check_dilation(dilation_rate, mask_type):
    dilation_rate = check_int(dilation_rate, "dilation_rate", 1)
    if mask_type is not None and dilation_rate != 1:
        raise ValueError(
            f"dilation_rate: expected 1 for a masked (decoder) unit, got {dilation_rate}."
        )
    return dilation_rate


def _convolution(filters, kernel_size, dilation_rate, mask_type, channel_groups, name):
    """A 'same' convolution: masked (PixelCNN, with colour groups) or dilated and unmasked."""
    if mask_type is None:
        return tf.keras.layers.Conv2D(
            filters, kernel_size, padding="same", dilation_rate=dilation_rate, name=name
        )
    return MaskedConv2D(filters, kernel_size, mask_type, channel_groups=channel_groups, name=name)


def split_groups(x, parts, channel_groups):
    """Splits the last axis into `parts` tensors, each keeping the colour-group order.

    A masked convolution with `channel_groups` G lays out its outputs as G
    contiguous groups; with `parts * c` filters, group g holds the g-th
    `c / G` channels of every part. This returns the parts [..., c], each laid
    out in G groups again, so that elementwise products between them and the
    MU's input stay inside one colour group.

    Args:
      x: tensor [..., parts * c], c a multiple of `channel_groups`.
      parts: int.
      channel_groups: int G.

    Returns:
      A list of `parts` tensors [..., c].
    """
    shape = tf.shape(x)
    channels = x.shape[-1]
    grouped = tf.reshape(
        x, tf.concat([shape[:-1], [channel_groups, parts, channels // (parts * channel_groups)]], 0)
    )
    return [
        tf.reshape(part, tf.concat([shape[:-1], [channels // parts]], 0))
        for part in tf.unstack(grouped, axis=-2)
    ]


def multiplicative_unit(pre_activations, inputs, channel_groups=1):
    """`MU(h) = g1 * tanh(g2 * h + g3 * u)` from its four pre-activations (1610.00527 Eq. 4-8).

    Args:
      pre_activations: float [..., 4c], the convolutions W1..W4 * h side by
        side (in `channel_groups` colour groups, see `split_groups`), plus any
        conditioning term.
      inputs: float [..., c], the unit's input h.
      channel_groups: int G.

    Returns:
      Float [..., c].
    """
    g1, g2, g3, u = split_groups(pre_activations, _GATES, channel_groups)
    return tf.sigmoid(g1) * tf.tanh(tf.sigmoid(g2) * inputs + tf.sigmoid(g3) * tf.tanh(u))


class _MultiplicativeLayer(tf.keras.layers.Layer):
    """The arguments, checks and config that `MultiplicativeUnit` and the residual block share.

    `filters` must be a multiple of `_filters_multiple * channel_groups`; a
    subclass makes its sublayers in `_make_layers`, called by the constructor.
    """

    _filters_multiple = 1

    def __init__(
        self,
        filters,
        kernel_size=3,
        dilation_rate=1,
        mask_type=None,
        channel_groups=1,
        context=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = check_int(filters, "filters", self._filters_multiple)
        self.kernel_size = _check_kernel_size(kernel_size)
        self.mask_type = _check_mask_type(mask_type)
        self.dilation_rate = _check_dilation(dilation_rate, self.mask_type)
        self.channel_groups = check_int(channel_groups, "channel_groups", 1)
        multiple = self._filters_multiple * self.channel_groups
        if self.filters % multiple:
            raise ValueError(
                f"filters: expected a multiple of {multiple} ({self._filters_multiple} x "
                f"channel_groups={self.channel_groups}), got {self.filters}."
            )
        self.context = bool(context)
        self._make_layers()

    def _make_layers(self):
        raise NotImplementedError

    def _check_inputs(self, inputs):
        if inputs.shape[-1] != self.filters:
            raise ValueError(
                f"{type(self).__name__}: expected {self.filters} input channels, "
                f"got shape {inputs.shape}."
            )

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "dilation_rate": self.dilation_rate,
            "mask_type": self.mask_type,
            "channel_groups": self.channel_groups,
            "context": self.context,
        }


@tf.keras.saving.register_keras_serializable(package="tfgen")
class MultiplicativeUnit(_MultiplicativeLayer):
    """Multiplicative unit `MU(h) = g1 * tanh(g2 * h + g3 * u)`.

    With one convolution W (four kernels W1..W4 side by side) of the input h:

      g1 = sigmoid(W1 * h),  g2 = sigmoid(W2 * h),  g3 = sigmoid(W3 * h),
      u = tanh(W4 * h),      MU(h) = g1 * tanh(g2 * h + g3 * u),

    where `*` is a k x k convolution (dilated in the encoders, masked in the
    decoders) and the products are elementwise, so the output has the input's
    channels. A `context` map adds `V * context` (a 1x1 convolution) to the
    four pre-activations.

    Reference:
      Kalchbrenner et al. 2016, "Video Pixel Networks", arXiv 1610.00527,
      Sec. 4.1, Eq. 4-8.

    Args:
      filters: int c, the input and output channels (a multiple of
        `channel_groups`).
      kernel_size: odd int k.
      dilation_rate: int, dilation of an unmasked (encoder) unit.
      mask_type: None (unmasked), "A" or "B" (a masked decoder unit; see
        `MaskedConv2D`).
      channel_groups: int G, colour groups of a masked unit's channels.
      context: bool, whether the unit takes a `context` map.
      **kwargs: base `tf.keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
      inputs: float tensor [batch, height, width, c].
      context: float tensor [batch, height, width, e] (required when
        `context` is True, else None).

    Returns:
      Float tensor [batch, height, width, c].

    Example:

    >>> mu = MultiplicativeUnit(filters=6, kernel_size=3, dilation_rate=2)
    >>> mu(tf.zeros([2, 8, 8, 6])).shape
    TensorShape([2, 8, 8, 6])
    >>> float(tf.reduce_max(tf.abs(mu(tf.zeros([1, 4, 4, 6])))))  # tanh(0): h = 0 gives 0
    0.0
    """

    def _make_layers(self):
        self.conv = _convolution(
            _GATES * self.filters,
            self.kernel_size,
            self.dilation_rate,
            self.mask_type,
            self.channel_groups,
            "gates",
        )
        self.context_conv = (
            tf.keras.layers.Conv2D(_GATES * self.filters, 1, use_bias=False, name="context")
            if self.context
            else None
        )

    def _check_context(self, context):
        if self.context and context is None:
            raise ValueError("MultiplicativeUnit: expected a context map (context=True), got None.")
        if not self.context and context is not None:
            raise ValueError("MultiplicativeUnit: got a context map, but context=False.")

    def context_term(self, context):
        """`V * context` [batch, height, width, 4c], added to the pre-activations (or None)."""
        self._check_context(context)
        return None if context is None else self.context_conv(context)

    # 1610.00527 Sec. 4.1, Eq. 4-8: the multiplicative unit.
    def call_cached(self, inputs, context_term=None):
        """The unit given `context_term(context)`, computed once for many calls."""
        pre = self.conv(inputs)
        if context_term is not None:
            pre = pre + context_term
        return multiplicative_unit(pre, inputs, self.channel_groups)

    def call(self, inputs, context=None):
        self._check_inputs(inputs)
        return self.call_cached(inputs, self.context_term(context))


@tf.keras.saving.register_keras_serializable(package="tfgen")
class ResidualMultiplicativeBlock(_MultiplicativeLayer):
    """Residual multiplicative block: 1x1 (2c -> c), MU, MU, 1x1 (c -> 2c), plus the input.

    The first 1x1 convolution halves the `filters` = 2c channels, two
    `MultiplicativeUnit`s work at c channels, and the last 1x1 convolution
    restores 2c before the residual sum. In a masked (decoder) block the 1x1
    convolutions are mask-"B" `MaskedConv2D`s too, so a colour group never
    sees a later one through them.

    Reference:
      Kalchbrenner et al. 2016, "Video Pixel Networks", arXiv 1610.00527,
      Sec. 4.2, Fig. 3.

    Args:
      filters: int 2c, the block's input and output channels (a multiple of
        2 * channel_groups).
      kernel_size: odd int k of the MUs.
      dilation_rate: int, dilation of both MUs of an unmasked block.
      mask_type: None (encoder block) or "B" (decoder block).
      channel_groups: int G, colour groups of a masked block.
      context: bool, whether the MUs take a `context` map.
      **kwargs: base `tf.keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
      inputs: float tensor [batch, height, width, filters].
      context: float tensor [batch, height, width, e] when `context` is True.

    Returns:
      Float tensor [batch, height, width, filters].

    Example:

    >>> block = ResidualMultiplicativeBlock(filters=8, dilation_rate=4)
    >>> block(tf.zeros([2, 16, 16, 8])).shape
    TensorShape([2, 16, 16, 8])
    """

    _filters_multiple = 2

    def _make_layers(self):
        if self.mask_type == "A":
            raise ValueError("mask_type: expected None or 'B' (a residual block sees its pixel).")
        half = self.filters // 2
        self.reduce = _convolution(half, 1, 1, self.mask_type, self.channel_groups, "reduce")
        self.units = [
            MultiplicativeUnit(
                half,
                self.kernel_size,
                self.dilation_rate,
                self.mask_type,
                self.channel_groups,
                self.context,
                name=f"mu_{i}",
            )
            for i in range(2)
        ]
        self.restore = _convolution(
            self.filters, 1, 1, self.mask_type, self.channel_groups, "restore"
        )

    def context_terms(self, context):
        """The MUs' `context_term`s: computed once per context, reused by `call_cached`."""
        return [unit.context_term(context) for unit in self.units]

    # 1610.00527 Sec. 4.2, Fig. 3: the residual multiplicative block.
    def _residual(self, inputs, units):
        h = self.reduce(inputs)
        for unit in units:
            h = unit(h)
        return inputs + self.restore(h)

    def call_cached(self, inputs, context_terms):
        """The block given `context_terms(context)`, computed once for many calls."""
        units = [
            functools.partial(unit.call_cached, context_term=term)
            for unit, term in zip(self.units, context_terms)
        ]
        return self._residual(inputs, units)

    def call(self, inputs, context=None):
        self._check_inputs(inputs)
        return self._residual(inputs, [functools.partial(u, context=context) for u in self.units])
