"""The gated activation unit of the Gated PixelCNN (arXiv 1606.05328, Eq. 2 / 4)."""

import tensorflow as tf


class GatedActivation(tf.keras.layers.Layer):
    """Gated activation `y = tanh(f) * sigmoid(g)`.

    The input holds the filter and gate pre-activations side by side on the
    last axis (`2p` channels: `f = inputs[..., :p]`, `g = inputs[..., p:]`),
    as produced by one convolution with `2p` filters. Conditioning terms
    (`V^T h`, `V * s`) are added to the input before this layer.

    Call arguments:
      inputs: float tensor [..., 2p].

    Returns:
      Float tensor [..., p].
    """

    # Gated PixelCNN (1606.05328) Eq. 2 (and Eq. 4 with conditioning added before).
    def call(self, inputs):
        channels = inputs.shape[-1]
        if channels is None or channels % 2:
            raise ValueError(f"GatedActivation: expected an even number of channels "
                             f"(filter and gate halves), got {channels}.")
        f, g = tf.split(inputs, 2, axis=-1)
        return tf.tanh(f) * tf.sigmoid(g)

    def compute_output_shape(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        return input_shape[:-1].concatenate([input_shape[-1] // 2])
