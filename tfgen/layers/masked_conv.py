"""Causal image convolutions for PixelCNN-style autoregressive models.

* `MaskedConv2D`: the original PixelCNN masked k x k convolution
  (van den Oord et al. 2016a, arXiv 1601.06759, Sec. 3.4, masks A and B),
  which has a blind spot when stacked.
* `VerticalStackConv2D` / `HorizontalStackConv2D`: the two stacks of the Gated
  PixelCNN (van den Oord et al. 2016b, arXiv 1606.05328, Sec. 2.2, Fig. 2),
  implemented with explicit asymmetric padding and shifts instead of dense
  masks; together they have no blind spot.
* `shift_down` / `ShiftDown`: moves a feature map down one row, so that the
  vertical stack only sees rows strictly above the current one when it feeds
  the horizontal stack.

For cached sampling (Ramachandran et al. 2017, arXiv 1704.06001) the two stacks
also compute one output row (`VerticalStackConv2D.row`) or one output pixel
(`HorizontalStackConv2D.pixel`) from a window of cached inputs, as one matrix
product of the window's taps (im2col) and the reshaped kernel.

All convolutions use zero padding so that the output has the input's height and
width; images are NHWC.
"""

import numpy as np
import tensorflow as tf

from tfgen.checks import check_int

_MASK_TYPES = ("A", "B")


def _check_kernel_size(kernel_size, minimum=1):
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, (int, np.integer)):
        raise TypeError(
            f"kernel_size: expected an odd int, got {kernel_size!r} ({type(kernel_size).__name__})."
        )
    if kernel_size < minimum or kernel_size % 2 != 1:
        raise ValueError(f"kernel_size: expected an odd int >= {minimum}, got {kernel_size}.")
    return int(kernel_size)


def _check_filters(filters):
    if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)):
        raise TypeError(
            f"filters: expected a positive int, got {filters!r} ({type(filters).__name__})."
        )
    if filters < 1:
        raise ValueError(f"filters: expected a positive int, got {filters}.")
    return int(filters)


def _check_mask_type(mask_type):
    if mask_type not in _MASK_TYPES:
        raise ValueError(f"mask_type: expected one of {_MASK_TYPES}, got {mask_type!r}.")
    return mask_type


def _check_rank4(inputs, layer):
    if inputs.shape.rank is not None and inputs.shape.rank != 4:
        raise ValueError(f"{layer}: expected a rank-4 NHWC input, got shape {inputs.shape}.")


def causal_kernel_mask(kernel_size, in_channels, filters, mask_type, channel_groups=1):
    """The 0/1 mask of a PixelCNN k x k kernel (PixelRNN, arXiv 1601.06759, Sec. 3.4).

    Rows above the centre and the taps left of it are kept. At the centre, the
    channels are split into `channel_groups` contiguous groups (colours) and
    output group g keeps input groups < g (mask "A") or <= g (mask "B").

    Args:
      kernel_size: odd int k.
      in_channels: int, a multiple of `channel_groups`.
      filters: int, a multiple of `channel_groups`.
      mask_type: "A" or "B".
      channel_groups: int G >= 1.

    Returns:
      float32 array [k, k, 1, 1] when G = 1 (it broadcasts over channels),
      else [k, k, in_channels, filters].
    """
    k = kernel_size
    shape = (k, k, 1, 1) if channel_groups == 1 else (k, k, in_channels, filters)
    mask = np.zeros(shape, np.float32)
    mask[: k // 2] = 1.0
    mask[k // 2, : k // 2] = 1.0
    in_group = np.arange(shape[2]) * channel_groups // shape[2]
    out_group = np.arange(shape[3]) * channel_groups // shape[3]
    seen = in_group[:, None] < out_group[None, :] + (mask_type == "B")
    mask[k // 2, k // 2] = seen
    return mask


def _check_window(layer, method, window, shape):
    """`window` as a tensor, unless its static shape contradicts `shape` (None: any size)."""
    window = tf.convert_to_tensor(window)
    known = window.shape
    if known.rank is not None and (
        known.rank != len(shape)
        or any(s is not None and k is not None and k != s for k, s in zip(known, shape))
    ):
        expected = ", ".join("?" if s is None else str(s) for s in shape)
        raise ValueError(
            f"{layer.name}.{method}: expected a window of shape [{expected}], got {known}."
        )
    return window


def _built_kernel(layer, method):
    """The (kernel, bias) of a stack layer's convolution; the layer must have been called."""
    if not layer.conv.built:
        raise ValueError(
            f"{layer.name}.{method}: expected a built layer (call it on an image first), "
            f"got an unbuilt one."
        )
    return layer.conv.kernel, layer.conv.bias


def _taps_product(taps, kernel, bias):
    """Taps [..., *kernel.shape[:-1]] flattened to [M, taps] times the kernel as [taps, filters].

    Returns [M, filters] (plus the bias), M the product of the leading axes.
    """
    flat = tf.reshape(taps, [-1, int(np.prod(kernel.shape[:-1]))])
    outputs = tf.matmul(flat, tf.reshape(kernel, [-1, kernel.shape[-1]]))
    return outputs if bias is None else outputs + bias


def shift_down(x, rows=1):
    """Shifts `x` [B, H, W, C] down by `rows` rows, filling the top with zeros.

    Row i of the output is row i - rows of the input (Gated PixelCNN, arXiv
    1606.05328, Sec. 2.2, Fig. 2: the vertical stack's output is shifted down
    before it feeds the horizontal stack, so that the horizontal stack never
    sees the current row through it).

    Args:
      x: float tensor [batch, height, width, channels].
      rows: positive int.

    Returns:
      A tensor of the shape of `x`.

    Example:

    >>> x = tf.reshape(tf.range(1.0, 4.0), [1, 3, 1, 1])
    >>> shift_down(x)[0, :, 0, 0].numpy()
    array([0., 1., 2.], dtype=float32)
    """
    x = tf.convert_to_tensor(x)
    _check_rank4(x, "shift_down")
    return tf.pad(x, [[0, 0], [rows, 0], [0, 0], [0, 0]])[:, : tf.shape(x)[1]]


@tf.keras.saving.register_keras_serializable(package="tfgen")
class ShiftDown(tf.keras.layers.Layer):
    """Shifts a feature map down by `rows` rows (zeros enter at the top).

    The layer form of `shift_down`; it has no weights.

    Reference:
      van den Oord et al. 2016, "Conditional Image Generation with PixelCNN
      Decoders", arXiv 1606.05328, Sec. 2.2, Fig. 2 (the vertical stack feeds
      the horizontal stack through a down shift).

    Args:
      rows: positive int, the number of rows to shift.
      **kwargs: base `tf.keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
      inputs: float tensor [batch, height, width, channels].

    Returns:
      A tensor of the same shape [batch, height, width, channels]; row i holds
      input row i - rows.

    Example:

    >>> x = tf.reshape(tf.range(1.0, 5.0), [1, 4, 1, 1])
    >>> ShiftDown(rows=2)(x)[0, :, 0, 0].numpy()
    array([0., 0., 1., 2.], dtype=float32)
    """

    # Gated PixelCNN (1606.05328) Sec. 2.2, Fig. 2: the down shift between the stacks.
    def __init__(self, rows=1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rows, bool) or not isinstance(rows, (int, np.integer)) or rows < 1:
            raise ValueError(f"rows: expected a positive int, got {rows!r}.")
        self.rows = int(rows)

    def call(self, inputs):
        return shift_down(inputs, self.rows)

    def get_config(self):
        return {**super().get_config(), "rows": self.rows}


@tf.keras.saving.register_keras_serializable(package="tfgen")
class MaskedConv2D(tf.keras.layers.Layer):
    """Masked k x k convolution of the original PixelCNN (single image channel).

    The kernel is multiplied by a fixed mask that keeps the rows above the
    centre and, in the centre row, the taps left of the centre; mask "A" drops
    the centre tap (first layer: a pixel must not see itself), mask "B" keeps
    it (later layers). Stacking these layers leaves a blind spot up-right of
    each pixel (Gated PixelCNN, Fig. 1), which the Gated PixelCNN removes.

    With `channel_groups` G > 1 the centre tap also follows the colour chain
    of PixelRNN Sec. 3.4: input and output channels are split into G
    contiguous groups (group g of an image's channels is colour g, e.g. R, G,
    B), and output group g sees input groups < g at the centre pixel (mask
    "A") or <= g (mask "B"). Pixels before the centre are seen by every group.

    Reference:
      van den Oord et al. 2016, "Pixel Recurrent Neural Networks", arXiv
      1601.06759, Sec. 3.4 (masked convolution, masks A and B, colour
      groups); the blind spot: arXiv 1606.05328, Sec. 2.2, Fig. 1.

    Args:
      filters: int, number of output channels (a multiple of
        `channel_groups`).
      kernel_size: odd int k, the kernel is k x k.
      mask_type: "A" (exclude the centre pixel, or its own and later colour
        groups) or "B" (include it, or its own colour group and earlier ones).
      use_bias: bool.
      kernel_initializer: Keras initializer for the kernel.
      channel_groups: int G >= 1, the number of colour groups of the centre
        tap's mask; the input channels must be a multiple of G.
      **kwargs: base `tf.keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
      inputs: float tensor [batch, height, width, in_channels].

    Returns:
      Float tensor [batch, height, width, filters]; output (i, j) depends only
      on inputs at pixels before (i, j) in raster order (and on (i, j) itself
      with mask "B", or on its earlier colour groups with G > 1).

    Example:

    >>> layer = MaskedConv2D(filters=4, kernel_size=3, mask_type="A")
    >>> layer(tf.zeros([2, 8, 8, 1])).shape
    TensorShape([2, 8, 8, 4])
    >>> layer.mask[:, :, 0, 0].numpy()
    array([[1., 1., 1.],
           [1., 0., 0.],
           [0., 0., 0.]], dtype=float32)
    >>> rgb = MaskedConv2D(filters=6, kernel_size=3, mask_type="A", channel_groups=3)
    >>> rgb(tf.zeros([2, 8, 8, 3])).shape
    TensorShape([2, 8, 8, 6])
    >>> rgb.mask[1, 1].numpy()  # centre tap [in, out]: G sees R, B sees R and G
    array([[0., 0., 1., 1., 1., 1.],
           [0., 0., 0., 0., 1., 1.],
           [0., 0., 0., 0., 0., 0.]], dtype=float32)
    """

    # PixelCNN (1601.06759) Sec. 3.4: masked convolutions, masks A and B.
    def __init__(
        self,
        filters,
        kernel_size,
        mask_type="B",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        channel_groups=1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = _check_filters(filters)
        self.kernel_size = _check_kernel_size(kernel_size)
        self.mask_type = _check_mask_type(mask_type)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = tf.keras.initializers.get(kernel_initializer)
        self.channel_groups = check_int(channel_groups, "channel_groups", 1)
        if self.filters % self.channel_groups:
            raise ValueError(
                f"filters: expected a multiple of channel_groups={self.channel_groups}, "
                f"got {self.filters}."
            )

    def build(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        if input_shape.rank != 4 or input_shape[-1] is None:
            raise ValueError(
                f"MaskedConv2D: expected input shape [B, H, W, C] with known C, got {input_shape}."
            )
        if input_shape[-1] % self.channel_groups:
            raise ValueError(
                f"MaskedConv2D: expected input channels a multiple of channel_groups="
                f"{self.channel_groups}, got shape {input_shape}."
            )
        k = self.kernel_size
        self.kernel = self.add_weight(
            name="kernel",
            shape=(k, k, int(input_shape[-1]), self.filters),
            initializer=self.kernel_initializer,
            trainable=True,
        )
        self.bias = (
            self.add_weight(name="bias", shape=(self.filters,), initializer="zeros", trainable=True)
            if self.use_bias
            else None
        )
        self.mask = tf.constant(
            causal_kernel_mask(
                k, int(input_shape[-1]), self.filters, self.mask_type, self.channel_groups
            )
        )
        super().build(input_shape)

    def call(self, inputs):
        _check_rank4(inputs, "MaskedConv2D")
        outputs = tf.nn.conv2d(inputs, self.kernel * self.mask, strides=1, padding="SAME")
        if self.bias is not None:
            outputs = tf.nn.bias_add(outputs, self.bias)
        return outputs

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "mask_type": self.mask_type,
            "use_bias": self.use_bias,
            "kernel_initializer": tf.keras.initializers.serialize(self.kernel_initializer),
            "channel_groups": self.channel_groups,
        }


@tf.keras.saving.register_keras_serializable(package="tfgen")
class VerticalStackConv2D(tf.keras.layers.Layer):
    """Vertical-stack convolution of the Gated PixelCNN: rows above and the current row.

    A (k//2 + 1) x k kernel with k//2 rows of zero padding on top, none at the
    bottom, and k//2 columns on each side, so output (i, j) sees input rows
    i - k//2 .. i and columns j - k//2 .. j + k//2. It sees the current row
    (including pixels to the right), so its output must go through
    `shift_down` before it reaches the horizontal stack.

    Reference:
      van den Oord et al. 2016, "Conditional Image Generation with PixelCNN
      Decoders", arXiv 1606.05328, Sec. 2.2, Fig. 2 (the vertical stack).

    Args:
      filters: int, number of output channels.
      kernel_size: odd int k.
      use_bias: bool.
      kernel_initializer: Keras initializer.
      **kwargs: base `tf.keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
      inputs: float tensor [batch, height, width, in_channels].

    Returns:
      Float tensor [batch, height, width, filters].

    Example:

    >>> layer = VerticalStackConv2D(filters=4, kernel_size=3)
    >>> layer(tf.zeros([2, 8, 8, 1])).shape
    TensorShape([2, 8, 8, 4])
    >>> layer.conv.kernel.shape  # (k//2 + 1) x k
    TensorShape([2, 3, 1, 4])
    """

    # Gated PixelCNN (1606.05328) Sec. 2.2 / Fig. 2: the n x n vertical stack, unmasked.
    def __init__(
        self, filters, kernel_size, use_bias=True, kernel_initializer="glorot_uniform", **kwargs
    ):
        super().__init__(**kwargs)
        self.filters = _check_filters(filters)
        self.kernel_size = _check_kernel_size(kernel_size)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = tf.keras.initializers.get(kernel_initializer)
        k = self.kernel_size
        self.conv = tf.keras.layers.Conv2D(
            self.filters,
            (k // 2 + 1, k),
            padding="valid",
            use_bias=self.use_bias,
            kernel_initializer=self.kernel_initializer,
            name="conv",
        )

    def call(self, inputs):
        _check_rank4(inputs, "VerticalStackConv2D")
        p = self.kernel_size // 2
        return self.conv(tf.pad(inputs, [[0, 0], [p, 0], [p, p], [0, 0]]))

    # 1704.06001 (cache the inputs, compute only what is new) on 1606.05328 Fig. 2.
    def row(self, window):
        """One output row from a window of cached input rows, as one matrix product.

        Output row i needs input rows i - k//2 .. i only. The k//2 + 1 by k
        taps of every output column are gathered (im2col) into a [batch *
        width, (k//2 + 1) * k * in_channels] matrix that multiplies the
        reshaped kernel: the per-row work of cached sampling (arXiv
        1704.06001). The layer must have been called (built) first.

        Args:
          window: float tensor [batch, k//2 + 1, width + 2 * (k//2), in_channels],
            input rows i - k//2 .. i padded with k//2 zero columns on each
            side (rows above the image are zeros).

        Returns:
          Float tensor [batch, width, filters]: row i of the layer's output.

        Example:

        >>> layer = VerticalStackConv2D(filters=4, kernel_size=3)
        >>> x = tf.random.stateless_normal([2, 5, 6, 1], [0, 1])
        >>> full = layer(x)
        >>> window = tf.pad(x[:, 2:4], [[0, 0], [0, 0], [1, 1], [0, 0]])  # rows 2, 3
        >>> bool(tf.reduce_all(abs(layer.row(window) - full[:, 3]) < 1e-5))
        True
        """
        kernel, bias = _built_kernel(self, "row")
        q = self.kernel_size // 2
        window = _check_window(self, "row", window, (None, q + 1, None, kernel.shape[2]))
        padded = window.shape[2] if window.shape[2] is not None else tf.shape(window)[2]
        width = padded - 2 * q
        columns = tf.transpose(window, [0, 2, 1, 3])  # [batch, width + 2q, q + 1, in]
        # [batch, width, q + 1, k, in]: the taps of each output column in the kernel's order.
        taps = tf.stack([columns[:, dx : dx + width] for dx in range(self.kernel_size)], axis=3)
        outputs = _taps_product(taps, kernel, bias)
        return tf.reshape(outputs, [tf.shape(window)[0], width, self.filters])

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "use_bias": self.use_bias,
            "kernel_initializer": tf.keras.initializers.serialize(self.kernel_initializer),
        }


@tf.keras.saving.register_keras_serializable(package="tfgen")
class HorizontalStackConv2D(tf.keras.layers.Layer):
    """Horizontal-stack convolution of the Gated PixelCNN: the current row, to the left.

    A 1 x (k//2 + 1) kernel with k//2 columns of zero padding on the left:
    output (i, j) sees input (i, j - k//2 .. j) (mask "B"). Mask "A" (first
    layer) drops the current pixel: the kernel is 1 x (k//2), applied to the
    input shifted right by one column, so output (i, j) sees (i, j - k//2 ..
    j - 1). No dense mask is needed.

    Reference:
      van den Oord et al. 2016, "Conditional Image Generation with PixelCNN
      Decoders", arXiv 1606.05328, Sec. 2.2, Fig. 2 (the horizontal stack).

    Args:
      filters: int, number of output channels.
      kernel_size: odd int k (k >= 3 for mask "A").
      mask_type: "A" or "B".
      use_bias: bool.
      kernel_initializer: Keras initializer.
      **kwargs: base `tf.keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
      inputs: float tensor [batch, height, width, in_channels]; any height
        (a single row, height 1, is fine: the kernel has one row).

    Returns:
      Float tensor [batch, height, width, filters].

    Example:

    >>> layer = HorizontalStackConv2D(filters=4, kernel_size=5, mask_type="A")
    >>> layer(tf.zeros([2, 1, 8, 3])).shape  # one row
    TensorShape([2, 1, 8, 4])
    >>> layer.conv.kernel.shape  # 1 x k//2: the current pixel is excluded
    TensorShape([1, 2, 3, 4])
    """

    # Gated PixelCNN (1606.05328) Sec. 2.2 / Fig. 2: the 1 x (n/2 + 1) horizontal stack.
    def __init__(
        self,
        filters,
        kernel_size,
        mask_type="B",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = _check_filters(filters)
        self.mask_type = _check_mask_type(mask_type)
        self.kernel_size = _check_kernel_size(kernel_size, 3 if self.mask_type == "A" else 1)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = tf.keras.initializers.get(kernel_initializer)
        self.conv = tf.keras.layers.Conv2D(
            self.filters,
            (1, self.taps),
            padding="valid",
            use_bias=self.use_bias,
            kernel_initializer=self.kernel_initializer,
            name="conv",
        )

    def call(self, inputs):
        _check_rank4(inputs, "HorizontalStackConv2D")
        p = self.kernel_size // 2
        outputs = self.conv(tf.pad(inputs, [[0, 0], [0, 0], [p, 0], [0, 0]]))
        if self.mask_type == "A":  # Output width is W + 1: drop the last column.
            outputs = outputs[:, :, : tf.shape(inputs)[2]]
        return outputs

    @property
    def taps(self):
        """The number of inputs one output sees: k//2 + 1 (mask "B") or k//2 (mask "A")."""
        return self.kernel_size // 2 + (1 if self.mask_type == "B" else 0)

    # 1704.06001 (cache the inputs, compute only what is new) on 1606.05328 Fig. 2.
    def pixel(self, window):
        """One output pixel from its window of cached inputs, as one matrix product.

        Output (i, j) sees inputs (i, j - k//2 .. j) (mask "B") or (i, j -
        k//2 .. j - 1) (mask "A"): `taps` inputs, flattened into a [batch,
        taps * in_channels] matrix that multiplies the reshaped kernel, the
        per-pixel work of cached sampling (arXiv 1704.06001). The layer must
        have been called (built) first.

        Args:
          window: float tensor [batch, taps, in_channels], the inputs left of
            the pixel (and the pixel itself with mask "B") in order, zeros
            left of the image.

        Returns:
          Float tensor [batch, filters]: output (i, j) of the layer.

        Example:

        >>> layer = HorizontalStackConv2D(filters=4, kernel_size=5, mask_type="A")
        >>> x = tf.random.stateless_normal([2, 1, 6, 3], [0, 1])
        >>> full = layer(x)
        >>> bool(tf.reduce_all(abs(layer.pixel(x[:, 0, 2:4]) - full[:, 0, 4]) < 1e-5))
        True
        """
        kernel, bias = _built_kernel(self, "pixel")
        window = _check_window(self, "pixel", window, (None, self.taps, kernel.shape[2]))
        return _taps_product(window, kernel, bias)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "mask_type": self.mask_type,
            "use_bias": self.use_bias,
            "kernel_initializer": tf.keras.initializers.serialize(self.kernel_initializer),
        }
