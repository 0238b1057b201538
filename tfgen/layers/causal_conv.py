"""Causal dilated 1-D convolution with a one-step queue update for fast generation.

WaveNet (arXiv 1609.03499) Sec. 2.1: a causal convolution's output at time t
depends on inputs at times <= t only; dilation d skips d - 1 inputs between
taps. Fast Wavenet (Paine et al. 2016, arXiv 1611.09482) Sec. 2: at
generation time each layer keeps a queue of its past inputs, so one new
output costs one matrix product instead of a convolution over the whole past.
"""

import tensorflow as tf

from tfgen.checks import check_int


@tf.keras.saving.register_keras_serializable(package="tfgen")
class CausalConv1D(tf.keras.layers.Layer):
    """Causal dilated 1-D convolution `y_t = b + sum_j W_j x_{t - (k - 1 - j) d}`.

    Inputs before time 0 are zeros (left padding of `(k - 1) d` steps), so
    `call` keeps the time length. `step` computes one output from one new
    input and a queue of the past `(k - 1) d` inputs, giving exactly the
    output `call` gives at that time (up to float rounding).

    Reference:
      van den Oord et al. 2016, "WaveNet: A Generative Model for Raw Audio",
      arXiv 1609.03499, Sec. 2.1, Fig. 2-3 (causal and dilated causal
      convolutions); `step`: Paine et al. 2016, "Fast Wavenet Generation
      Algorithm", arXiv 1611.09482, Sec. 2 (the per-layer queues).

    Args:
      filters: int, output channels.
      kernel_size: int k >= 1, taps.
      dilation_rate: int d >= 1, time steps between taps.
      use_bias: bool.
      kernel_initializer: Keras initializer of the [k, in, filters] kernel.
      **kwargs: base `tf.keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
      inputs: float tensor [batch, time, in_channels].

    Returns:
      Float tensor [batch, time, filters].

    Example:

    >>> layer = CausalConv1D(filters=4, kernel_size=2, dilation_rate=2)
    >>> x = tf.random.stateless_normal([2, 10, 3], seed=[0, 1])
    >>> y = layer(x)
    >>> y.shape
    TensorShape([2, 10, 4])
    >>> layer.queue_length  # (k - 1) d past inputs
    2
    >>> queue, outputs = layer.initial_queue(2), []
    >>> for t in range(10):
    ...     output, queue = layer.step(x[:, t], queue, t)
    ...     outputs.append(output)
    >>> bool(tf.reduce_all(tf.abs(tf.stack(outputs, axis=1) - y) < 1e-5))
    True
    """

    # WaveNet (1609.03499) Sec. 2.1, Fig. 3: causal dilated convolution.
    def __init__(
        self,
        filters,
        kernel_size,
        dilation_rate=1,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = check_int(filters, "filters")
        self.kernel_size = check_int(kernel_size, "kernel_size")
        self.dilation_rate = check_int(dilation_rate, "dilation_rate")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = tf.keras.initializers.get(kernel_initializer)

    @property
    def queue_length(self):
        """Past inputs the layer sees: `(kernel_size - 1) * dilation_rate`."""
        return (self.kernel_size - 1) * self.dilation_rate

    def build(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        if input_shape.rank != 3 or input_shape[-1] is None:
            raise ValueError(
                f"CausalConv1D: expected input shape [batch, time, channels] "
                f"with known channels, got {input_shape}."
            )
        self.kernel = self.add_weight(
            "kernel",
            [self.kernel_size, int(input_shape[-1]), self.filters],
            initializer=self.kernel_initializer,
        )
        self.bias = (
            self.add_weight("bias", [self.filters], initializer="zeros") if self.use_bias else None
        )
        super().build(input_shape)

    def call(self, inputs):
        padded = tf.pad(inputs, [[0, 0], [self.queue_length, 0], [0, 0]])
        outputs = tf.nn.convolution(
            padded, self.kernel, padding="VALID", dilations=self.dilation_rate
        )
        return outputs + self.bias if self.use_bias else outputs

    def initial_queue(self, batch_size, dtype=tf.float32):
        """The queue before time 0: zeros [queue_length, batch, in_channels]."""
        return tf.zeros([self.queue_length, batch_size, self.kernel.shape[1]], dtype)

    # Fast Wavenet (1611.09482) Sec. 2, Fig. 2: pop the input from d steps ago, push the new one.
    def step(self, inputs, queue, time):
        """One output at `time` from the input at `time` and the queue.

        The queue is circular: the input of time `s` lives in slot
        `s mod queue_length`; slots of times before 0 hold zeros.

        Args:
          inputs: float [batch, in_channels], the input at `time`.
          queue: float [queue_length, batch, in_channels], from `initial_queue`
            or the previous `step`.
          time: int32 scalar, the current time (0, 1, 2, ...).

        Returns:
          `(outputs [batch, filters], new_queue)`.
        """
        if self.queue_length == 0:
            window = inputs[:, None, :]
        else:
            offsets = tf.constant(
                [
                    (self.kernel_size - 1 - j) * self.dilation_rate
                    for j in range(self.kernel_size - 1)
                ],
                tf.int32,
            )
            slots = tf.math.floormod(time - offsets, self.queue_length)
            taps = tf.transpose(tf.gather(queue, slots), [1, 0, 2])  # [batch, k - 1, in]
            window = tf.concat([taps, inputs[:, None, :]], axis=1)
            queue = tf.tensor_scatter_nd_update(
                queue, tf.reshape(tf.math.floormod(time, self.queue_length), [1, 1]), inputs[None]
            )
        flat = tf.reshape(window, [-1, self.kernel_size * self.kernel.shape[1]])
        outputs = tf.matmul(flat, tf.reshape(self.kernel, [-1, self.filters]))
        return (outputs + self.bias if self.use_bias else outputs), queue

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape)[:-1].concatenate([self.filters])

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "dilation_rate": self.dilation_rate,
            "use_bias": self.use_bias,
            "kernel_initializer": tf.keras.initializers.serialize(self.kernel_initializer),
        }
