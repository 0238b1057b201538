"""Learned upsampling of local-conditioning frames to the audio sample rate.

WaveNet (arXiv 1609.03499) Sec. 2.5: local conditioning features h_t at a
lower rate are mapped to y = f(h) at the audio rate "using a transposed
convolutional network (learned upsampling)".
"""

import tensorflow as tf

from tfgen.checks import check_int


def upsampling_strides(factor):
    """Splits `factor` into strides of at most 16 (greedily the largest divisor first).

    Args:
      factor: positive int, the total upsampling factor.

    Returns:
      A list of ints whose product is `factor` (`[1]` for 1); a prime factor
      above 16 stays one stride.

    Example:

    >>> upsampling_strides(256)
    [16, 16]
    >>> upsampling_strides(200)
    [10, 10, 2]
    >>> upsampling_strides(1)
    [1]
    """
    factor = check_int(factor, "factor")
    strides = []
    while factor > 1:
        stride = next((s for s in range(16, 1, -1) if factor % s == 0), factor)
        strides.append(stride)
        factor //= stride
    return strides or [1]


@tf.keras.saving.register_keras_serializable(package="tfgen")
class ConditioningUpsampler(tf.keras.layers.Layer):
    """Transposed-convolution stack taking frames to samples, `T = frames * hop_length`.

    One `Conv1DTranspose` per stride of `upsampling_strides(hop_length)`
    (kernel twice the stride, "same" padding, ReLU between layers, the last
    linear), so output sample `t` is computed from the frames around frame
    `t // hop_length`.

    Reference:
      van den Oord et al. 2016, "WaveNet: A Generative Model for Raw Audio",
      arXiv 1609.03499, Sec. 2.5 (local conditioning: h is mapped to y = f(h)
      at the audio rate by a transposed convolutional network).

    Args:
      hop_length: int, samples per frame.
      filters: int, channels of the upsampled features.
      **kwargs: base `tf.keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
      inputs: float tensor [batch, frames, features].

    Returns:
      Float tensor [batch, frames * hop_length, filters].

    Example:

    >>> layer = ConditioningUpsampler(hop_length=8, filters=4)
    >>> layer(tf.zeros([2, 3, 5])).shape
    TensorShape([2, 24, 4])
    >>> [deconv.strides for deconv in layer.deconvs]
    [(8,)]
    """

    # WaveNet (1609.03499) Sec. 2.5: y = f(h), a learned transposed-convolution upsampling.
    def __init__(self, hop_length, filters, **kwargs):
        super().__init__(**kwargs)
        self.hop_length = check_int(hop_length, "hop_length")
        self.filters = check_int(filters, "filters")
        strides = upsampling_strides(self.hop_length)
        self.deconvs = [
            tf.keras.layers.Conv1DTranspose(
                self.filters,
                max(2 * stride, 1),
                strides=stride,
                padding="same",
                activation=None if index == len(strides) - 1 else "relu",
                name=f"deconv_{index}",
            )
            for index, stride in enumerate(strides)
        ]

    def call(self, inputs):
        if inputs.shape.rank != 3:
            raise ValueError(
                f"ConditioningUpsampler: expected inputs [batch, frames, "
                f"features], got shape {inputs.shape}."
            )
        x = inputs
        for deconv in self.deconvs:
            x = deconv(x)
        return x

    def compute_output_shape(self, input_shape):
        batch, frames, _ = tf.TensorShape(input_shape)
        frames = None if frames is None else frames * self.hop_length
        return tf.TensorShape([batch, frames, self.filters])

    def get_config(self):
        return {**super().get_config(), "hop_length": self.hop_length, "filters": self.filters}
