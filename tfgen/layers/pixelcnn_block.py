"""Gated PixelCNN block (vertical + horizontal stacks) and its conditioning network.

Van den Oord et al. 2016, "Conditional Image Generation with PixelCNN
Decoders", arXiv 1606.05328, Sec. 2.1-2.3, Fig. 2.
"""

import tensorflow as tf

from tfgen.layers.gated import GatedActivation
from tfgen.layers.masked_conv import (
    HorizontalStackConv2D,
    VerticalStackConv2D,
    _check_filters,
    _check_kernel_size,
    _check_mask_type,
    shift_down,
)


@tf.keras.saving.register_keras_serializable(package="tfgen")
class GatedPixelCNNBlock(tf.keras.layers.Layer):
    """One layer of the Gated PixelCNN: a vertical and a horizontal stack.

    With `p = filters`:

      v_pre = VerticalConv_{2p}(v)                       # rows <= i
      v_out = gate(v_pre + V_v^T h + V_v * s)
      h_pre = HorizontalConv_{2p}(x_h) + Conv1x1_{2p}(shift_down(v_pre))
      h_out = Conv1x1_p(gate(h_pre + V_h^T h + V_h * s)) [+ x_h if residual]

    where `gate(a) = tanh(a[:p]) * sigmoid(a[p:])`, `h` is a global
    conditioning vector (e.g. a one-hot class label, broadcast over space) and
    `s` a spatial conditioning map at the image resolution (e.g. the output of
    `SpatialUpsampler`). The vertical stack has no residual connection; the
    horizontal stack has one when `residual` (not in the mask-"A" first layer,
    where it would leak the current pixel).

    For incremental (row-by-row) sampling the two halves are also available as
    `vertical_step` and `horizontal_step`; `horizontal_step` works on any
    subset of rows (e.g. one row) given the matching rows of `link` and `s`.
    For cached sampling (Ramachandran et al. 2017, arXiv 1704.06001),
    `vertical_row` computes one row of the vertical stack and
    `horizontal_pixel` one pixel of the horizontal stack from windows of
    cached inputs, as matrix products.

    Reference:
      van den Oord et al. 2016, "Conditional Image Generation with PixelCNN
      Decoders", arXiv 1606.05328, Sec. 2.1, Eq. 2 (gated unit), Sec. 2.2,
      Fig. 2 (one layer: the vertical and horizontal stacks), Sec. 2.3, Eq. 4
      (`V^T h`) and Eq. 5 (`V * s`, s a map at the image resolution).
      Ramachandran et al. 2017, "Fast Generation for Convolutional
      Autoregressive Models", arXiv 1704.06001 (caching).

    Args:
      filters: int p, channels of each stack's output.
      kernel_size: odd int n; vertical kernel (n//2+1) x n, horizontal 1 x (n//2+1).
      mask_type: "A" (first layer: the horizontal stack excludes the current
        pixel) or "B".
      residual: bool, residual connection in the horizontal stack. Requires
        mask "B" and `filters` input channels.
      label_conditioning: bool, whether the block takes `label` (adds V^T h).
      spatial_conditioning: bool, whether the block takes `spatial` (adds V * s).
      vertical_output: bool, whether to compute the vertical stack's gated
        output; False in the last layer, where nothing reads it (`v_out` is
        then None).
      **kwargs: base `tf.keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
      inputs: a pair `(v, x_h)` of float tensors [batch, height, width, c],
        the vertical and horizontal stack inputs.
      label: optional float tensor [batch, d], the conditioning vector h.
      spatial: optional float tensor [batch, height, width, e], the
        (upsampled) spatial conditioning map s.

    Returns:
      A pair `(v_out, h_out)` of float tensors [batch, height, width, filters]
      (`v_out` is None when `vertical_output` is False).

    Example:

    >>> block = GatedPixelCNNBlock(filters=4, kernel_size=3, mask_type="A",
    ...                            residual=False, label_conditioning=True)
    >>> x = tf.zeros([2, 6, 6, 1])
    >>> v_out, h_out = block((x, x), label=tf.one_hot([0, 3], 10))
    >>> v_out.shape, h_out.shape
    (TensorShape([2, 6, 6, 4]), TensorShape([2, 6, 6, 4]))
    """

    # Gated PixelCNN (1606.05328) Fig. 2 and Eq. 4 (conditioning) / Eq. 5 (spatial).
    def __init__(
        self,
        filters,
        kernel_size,
        mask_type="B",
        residual=True,
        label_conditioning=False,
        spatial_conditioning=False,
        vertical_output=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = _check_filters(filters)
        self.mask_type = _check_mask_type(mask_type)
        self.kernel_size = _check_kernel_size(kernel_size, 3 if self.mask_type == "A" else 1)
        self.residual = bool(residual)
        self.label_conditioning = bool(label_conditioning)
        self.spatial_conditioning = bool(spatial_conditioning)
        self.vertical_output = bool(vertical_output)
        if self.residual and self.mask_type == "A":
            raise ValueError(
                "residual: expected False with mask_type 'A' (a residual "
                "connection would let a pixel see itself), got True."
            )
        p2 = 2 * self.filters
        self.vertical_conv = VerticalStackConv2D(p2, self.kernel_size, name="vertical_conv")
        self.horizontal_conv = HorizontalStackConv2D(
            p2, self.kernel_size, self.mask_type, name="horizontal_conv"
        )
        self.link = tf.keras.layers.Conv2D(p2, 1, name="vertical_to_horizontal")
        self.horizontal_out = tf.keras.layers.Conv2D(self.filters, 1, name="horizontal_out")
        self.gate = GatedActivation(name="gate")
        # V^T h (Eq. 4) and V * s (Eq. 5), one projection per stack.
        self.label_projections, self.spatial_projections = {}, {}
        stacks = ("vertical", "horizontal") if self.vertical_output else ("horizontal",)
        for stack in stacks:
            if self.label_conditioning:
                self.label_projections[stack] = tf.keras.layers.Dense(
                    p2, use_bias=False, name=f"label_{stack}"
                )
            if self.spatial_conditioning:
                self.spatial_projections[stack] = tf.keras.layers.Conv2D(
                    p2, 1, use_bias=False, name=f"spatial_{stack}"
                )

    # 1606.05328 Eq. 4 (V^T h, the same at every pixel) and Eq. 5 (V * s, a 1x1 conv of the map).
    def conditioning(self, label=None, spatial=None, stack="horizontal"):
        """The conditioning term that one stack adds before its gate: V^T h + V * s.

        Args:
          label: float tensor [batch, d] (h), or None; given exactly when
            `label_conditioning`.
          spatial: float tensor [batch, height, width, e] (s), or None; given
            exactly when `spatial_conditioning`.
          stack: "vertical" (needs `vertical_output`) or "horizontal".

        Returns:
          Float tensor [batch, 1, 1, 2 * filters] (label only) or [batch,
          height, width, 2 * filters] (with spatial), or None for an
          unconditional block.
        """
        for name, value, used, shape in (
            ("label", label, self.label_conditioning, "[batch, d]"),
            ("spatial", spatial, self.spatial_conditioning, "[batch, H, W, e]"),
        ):
            if (value is not None) != used:
                expected = f"a {shape} tensor" if used else f"None ({name}_conditioning=False)"
                got = "None" if value is None else "a tensor"
                raise ValueError(f"{name}: expected {expected}, got {got}.")
        condition = None
        if label is not None:
            label = tf.convert_to_tensor(label)
            if label.shape.rank != 2:
                raise ValueError(f"label: expected a [batch, d] tensor, got shape {label.shape}.")
            condition = self.label_projections[stack](label)[:, None, None, :]
        if spatial is not None:
            projected = self.spatial_projections[stack](spatial)
            condition = projected if condition is None else condition + projected
        return condition

    def _condition(self, pre, label, spatial, stack):
        condition = self.conditioning(label, spatial, stack)
        return pre if condition is None else pre + condition

    def _check_residual(self, channels):
        if self.residual and channels != self.filters:
            raise ValueError(
                f"GatedPixelCNNBlock: residual connection expected "
                f"{self.filters} input channels, got {channels}."
            )

    def vertical_step(self, v, label=None, spatial=None):
        """Vertical stack: returns `(v_out, link)`, link = Conv1x1(shift_down(v_pre))."""
        pre = self.vertical_conv(v)
        link = self.link(shift_down(pre))
        v_out = None
        if self.vertical_output:
            v_out = self.gate(self._condition(pre, label, spatial, "vertical"))
        return v_out, link

    def horizontal_step(self, x_h, link, label=None, spatial=None):
        """Horizontal stack given the vertical stack's `link` for the same rows."""
        pre = self.horizontal_conv(x_h) + link
        out = self.horizontal_out(self.gate(self._condition(pre, label, spatial, "horizontal")))
        if self.residual:
            self._check_residual(x_h.shape[-1])
            out += x_h
        return out

    # 1704.06001 (cached generation) on 1606.05328 Fig. 2: the vertical stack, one row.
    def vertical_row(self, window, condition=None):
        """The vertical stack at one row i, from a window of its cached input rows.

        Cached sampling (Ramachandran et al. 2017, arXiv 1704.06001) runs the
        vertical stack once per image row, on that row only.

        Args:
          window: float tensor [batch, k//2 + 1, width + 2 * (k//2), c], the
            stack's input rows i - k//2 .. i with k//2 zero columns on each
            side (see `VerticalStackConv2D.row`).
          condition: float tensor [batch, width or 1, 2 * filters], row i of
            `conditioning(..., stack="vertical")`, or None (unconditional).

        Returns:
          A pair `(v_out, link)` of float tensors: `v_out` [batch, width,
          filters] is row i of the vertical output (None when
          `vertical_output` is False), `link` [batch, width, 2 * filters] is
          the Conv1x1 of v_pre at row i, which the horizontal stack adds at
          row i + 1 (the down shift).
        """
        pre = self.vertical_conv.row(window)
        link = pointwise(self.link, pre)
        v_out = None
        if self.vertical_output:
            v_out = self.gate(pre if condition is None else pre + condition)
        return v_out, link

    # 1704.06001 (cached generation) on 1606.05328 Fig. 2: the horizontal stack, one pixel.
    def horizontal_pixel(self, x_h, past, bias):
        """The horizontal stack at one pixel (i, j), from its cached inputs to the left.

        Cached sampling (arXiv 1704.06001) runs the horizontal stack once per
        pixel, at that pixel only.

        Args:
          x_h: float tensor [batch, c], the horizontal-stack input at (i, j)
            (the convolution's last tap and the residual), or None with mask
            "A", which must not see it.
          past: float tensor [batch, k//2, c], the inputs at (i, j - k//2 ..
            j - 1), zeros left of the image.
          bias: float tensor [batch, 2 * filters], what h_pre adds at this
            pixel besides the horizontal convolution: the `link` from row i -
            1 plus the horizontal `conditioning` at (i, j).

        Returns:
          Float tensor [batch, filters]: h_out at (i, j).
        """
        if (x_h is None) != (self.mask_type == "A"):
            expected = "None (mask 'A')" if self.mask_type == "A" else "a [batch, c] tensor"
            raise ValueError(
                f"x_h: expected {expected}, got {'None' if x_h is None else 'a tensor'}."
            )
        window = past if x_h is None else tf.concat([past, x_h[:, None]], axis=1)
        out = pointwise(self.horizontal_out, self.gate(self.horizontal_conv.pixel(window) + bias))
        if self.residual:
            self._check_residual(x_h.shape[-1])
            out += x_h
        return out

    def call(self, inputs, label=None, spatial=None):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise TypeError(
                f"GatedPixelCNNBlock: expected inputs (vertical, horizontal), "
                f"got {type(inputs).__name__}."
            )
        v, x_h = inputs
        v_out, link = self.vertical_step(v, label, spatial)
        return v_out, self.horizontal_step(x_h, link, label, spatial)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "mask_type": self.mask_type,
            "residual": self.residual,
            "label_conditioning": self.label_conditioning,
            "spatial_conditioning": self.spatial_conditioning,
            "vertical_output": self.vertical_output,
        }


def pointwise(conv, x):
    """A built 1x1 `Conv2D` layer applied as a matrix product on the last axis of `x`.

    Args:
      conv: a built `tf.keras.layers.Conv2D` with a 1x1 kernel (its bias and
        activation are applied too).
      x: float tensor [..., in_channels] of any rank >= 2.

    Returns:
      Float tensor [..., filters], what `conv` gives at each position.

    Example:

    >>> conv = tf.keras.layers.Conv2D(3, 1, activation="relu")
    >>> x = tf.random.stateless_normal([2, 4, 5, 2], [0, 1])
    >>> full = conv(x)
    >>> bool(tf.reduce_all(abs(pointwise(conv, x[:, 1]) - full[:, 1]) < 1e-6))
    True
    """
    if tuple(conv.kernel_size) != (1, 1) or not conv.built:
        raise ValueError(
            f"pointwise: expected a built 1x1 Conv2D, got kernel_size {conv.kernel_size}"
            f"{'' if conv.built else ' (not built)'}."
        )
    outputs = tf.matmul(x, tf.reshape(conv.kernel, conv.kernel.shape[2:]))
    if conv.use_bias:
        outputs += conv.bias
    return conv.activation(outputs)


def _upsampling_strides(source, target):
    """Per-step (height, width) strides taking `source` (h, w) to `target` (H, W)."""
    (h, w), (big_h, big_w) = source, target
    if big_h % h or big_w % w:
        raise ValueError(
            f"spatial conditioning: expected the image size {target} to be a "
            f"multiple of the spatial map size {source}, got ratio "
            f"{big_h / h:g} x {big_w / w:g}."
        )
    fh, fw = big_h // h, big_w // w
    strides = []
    while fh % 2 == 0 and fw % 2 == 0:
        strides.append((2, 2))
        fh, fw = fh // 2, fw // 2
    if (fh, fw) != (1, 1) or not strides:
        strides.append((fh, fw))
    return strides


@tf.keras.saving.register_keras_serializable(package="tfgen")
class SpatialUpsampler(tf.keras.layers.Layer):
    """Learned upsampling m(s) of a low-resolution conditioning map to the image size.

    A stack of `Conv2DTranspose` layers (stride 2 while both factors are even,
    then one layer with the remaining stride; ReLU between layers, the last one
    linear). A map already at the image size gets one stride-1 3x3 layer.

    Reference:
      van den Oord et al. 2016, "Conditional Image Generation with PixelCNN
      Decoders", arXiv 1606.05328, Sec. 2.3, Eq. 5 (a deconvolutional
      network `m` maps the conditioning to a map at the image resolution).

    Args:
      target_size: (height, width) of the image.
      filters: int, channels of the upsampled map.
      **kwargs: base `tf.keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
      inputs: float tensor [batch, h, w, c] with height/h and width/w integers.

    Returns:
      Float tensor [batch, height, width, filters].

    Example:

    >>> layer = SpatialUpsampler(target_size=(28, 28), filters=4)
    >>> layer(tf.zeros([2, 7, 7, 3])).shape
    TensorShape([2, 28, 28, 4])
    >>> [deconv.strides for deconv in layer.deconvs]
    [(2, 2), (2, 2)]
    """

    # Gated PixelCNN (1606.05328) Sec. 2.3, Eq. 5: s -> m(s) by a deconvolutional network.
    def __init__(self, target_size, filters, **kwargs):
        super().__init__(**kwargs)
        target_size = tuple(int(t) for t in target_size)
        if len(target_size) != 2 or min(target_size) < 1:
            raise ValueError(f"target_size: expected (height, width), got {target_size}.")
        self.target_size = target_size
        self.filters = _check_filters(filters)
        self.deconvs = []

    def build(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        if input_shape.rank != 4 or None in input_shape[1:]:
            raise ValueError(
                f"SpatialUpsampler: expected input shape [B, h, w, c], got {input_shape}."
            )
        strides = _upsampling_strides(tuple(input_shape[1:3]), self.target_size)
        for index, stride in enumerate(strides):
            last = index == len(strides) - 1
            kernel = tuple(max(3, 2 * s) if s > 1 else 3 for s in stride)
            self.deconvs.append(
                tf.keras.layers.Conv2DTranspose(
                    self.filters,
                    kernel,
                    strides=stride,
                    padding="same",
                    activation=None if last else "relu",
                    name=f"deconv_{index}",
                )
            )
        super().build(input_shape)

    def call(self, inputs):
        x = inputs
        for deconv in self.deconvs:
            x = deconv(x)
        return x

    def get_config(self):
        return {**super().get_config(), "target_size": self.target_size, "filters": self.filters}
