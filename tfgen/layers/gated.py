"""The gated activation unit of the Gated PixelCNN (arXiv 1606.05328, Eq. 2 / 4)."""

import tensorflow as tf


@tf.keras.saving.register_keras_serializable(package="tfgen")
class GatedActivation(tf.keras.layers.Layer):
    """Gated activation `y = tanh(f) * sigmoid(g)`.

    The input holds the filter and gate pre-activations side by side on the
    last axis (`2p` channels: `f = inputs[..., :p]`, `g = inputs[..., p:]`),
    as produced by one convolution with `2p` filters. Conditioning terms
    (`V^T h`, `V * s`) are added to the input before this layer. The layer
    has no weights.

    Reference:
      van den Oord et al. 2016, "Conditional Image Generation with PixelCNN
      Decoders", arXiv 1606.05328, Sec. 2.1, Eq. 2 (Sec. 2.3, Eq. 4 with
      conditioning); the same unit is WaveNet's (arXiv 1609.03499, Sec. 2.3,
      Eq. 2).

    Args:
      **kwargs: base `tf.keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
      inputs: float tensor [..., 2p].

    Returns:
      Float tensor [..., p].

    Example:

    >>> gate = GatedActivation()
    >>> gate(tf.zeros([2, 5, 5, 8])).shape
    TensorShape([2, 5, 5, 4])
    >>> float(gate(tf.constant([[0.0, 0.0]]))[0, 0])  # tanh(0) * sigmoid(0)
    0.0
    """

    # Gated PixelCNN (1606.05328) Sec. 2.1, Eq. 2 (and Eq. 4 with conditioning added before).
    def call(self, inputs):
        channels = inputs.shape[-1]
        if channels is None or channels % 2:
            raise ValueError(
                f"GatedActivation: expected an even number of channels "
                f"(filter and gate halves), got {channels}."
            )
        f, g = tf.split(inputs, 2, axis=-1)
        return tf.tanh(f) * tf.sigmoid(g)

    def compute_output_shape(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        return input_shape[:-1].concatenate([input_shape[-1] // 2])
