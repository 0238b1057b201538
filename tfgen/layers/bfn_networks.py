"""Small networks Psi(theta, t) for Bayesian Flow Networks (arXiv 2308.07037, Sec. 3).

The BFN network maps the parameters theta of the input distribution and the
time t to the parameters of the output distribution; the paper places no
restriction on its architecture (it uses U-Nets for images and a transformer
for text8). These are small stand-ins for 2 CPU cores: a dilated residual
convolutional network for images and a bidirectional transformer for
sequences, both conditioned on t through a Fourier-feature time embedding.
"""

import math

import tensorflow as tf


@tf.keras.saving.register_keras_serializable(package="tfgen")
class TimeEmbedding(tf.keras.layers.Layer):
    """Fourier features of t in [0, 1] followed by a two-layer MLP.

    `e(t) = Dense(swish(Dense([sin(pi 2^j t), cos(pi 2^j t), t])))`: how the
    BFN networks below take the time t of `Psi(theta, t)`.

    Reference:
      Graves et al. 2023, "Bayesian Flow Networks", arXiv 2308.07037,
      Sec. 3.2 (the network `Psi(theta, t)` whose outputs parameterise the
      output distribution `p_O(x | theta; t)`; the paper leaves its
      architecture open).

    Args:
      units: int, the embedding size.
      num_frequencies: int, sin/cos pairs at frequencies pi * 2^j, j < num_frequencies.
      **kwargs: base `tf.keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
      t: float32 [B].

    Returns:
      float32 [B, units].

    Example:

    >>> embedding = TimeEmbedding(units=16, num_frequencies=4)
    >>> embedding(tf.constant([0.0, 0.5, 1.0])).shape
    TensorShape([3, 16])
    """

    def __init__(self, units, num_frequencies=8, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.num_frequencies = int(num_frequencies)
        self.hidden = tf.keras.layers.Dense(self.units, activation="swish", name="hidden")
        self.project = tf.keras.layers.Dense(self.units, name="project")

    def call(self, t):
        frequencies = math.pi * 2.0 ** tf.range(self.num_frequencies, dtype=tf.float32)
        angles = tf.cast(t, tf.float32)[:, None] * frequencies
        features = tf.concat(
            [tf.sin(angles), tf.cos(angles), tf.cast(t, tf.float32)[:, None]], axis=-1
        )
        return self.project(self.hidden(features))

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "num_frequencies": self.num_frequencies,
        }


@tf.keras.saving.register_keras_serializable(package="tfgen")
class BFNConvNet(tf.keras.layers.Layer):
    """Residual dilated 3x3 convolutions with an additive time embedding, for images.

    Each of the `num_layers` residual blocks is
    h + Conv(swish(Conv(swish(h)) + W e(t))) with the dilation cycling through
    `dilation_rates`, so a few blocks see most of a 28x28 image. The output
    convolution starts at zero (the network starts by predicting eps_hat = 0,
    or a uniform p_O).

    Reference:
      Graves et al. 2023, "Bayesian Flow Networks", arXiv 2308.07037,
      Sec. 3.2 (the network `Psi(theta, t)` whose outputs parameterise the
      output distribution `p_O(x | theta; t)`; the paper leaves its
      architecture open).

    Args:
      output_channels: int, channels of the output.
      filters: int, channels of the hidden layers.
      num_layers: int, residual blocks.
      dilation_rates: sequence of ints cycled over the blocks.
      **kwargs: base `tf.keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
      inputs: tuple `(theta, t)`: float32 [B, H, W, C] and float32 [B].

    Returns:
      float32 [B, H, W, output_channels].

    Example:

    >>> net = BFNConvNet(output_channels=2, filters=8, num_layers=2)
    >>> theta, t = tf.zeros([2, 6, 6, 1]), tf.constant([0.1, 0.9])
    >>> outputs = net((theta, t))
    >>> outputs.shape
    TensorShape([2, 6, 6, 2])
    >>> float(tf.reduce_max(tf.abs(outputs)))  # the output convolution starts at zero
    0.0
    """

    def __init__(
        self, output_channels, filters=32, num_layers=4, dilation_rates=(1, 2, 4, 8), **kwargs
    ):
        super().__init__(**kwargs)
        self.output_channels = int(output_channels)
        self.filters = int(filters)
        self.num_layers = int(num_layers)
        self.dilation_rates = tuple(int(d) for d in dilation_rates)
        self.time_embedding = TimeEmbedding(self.filters, name="time_embedding")
        self.input_conv = tf.keras.layers.Conv2D(self.filters, 3, padding="same", name="input_conv")
        self.blocks = []
        for b in range(self.num_layers):
            rate = self.dilation_rates[b % len(self.dilation_rates)]
            self.blocks.append(
                (
                    tf.keras.layers.Conv2D(
                        self.filters,
                        3,
                        padding="same",
                        dilation_rate=rate,
                        name=f"block_{b}_conv_a",
                    ),
                    tf.keras.layers.Dense(self.filters, name=f"block_{b}_time"),
                    tf.keras.layers.Conv2D(
                        self.filters, 3, padding="same", name=f"block_{b}_conv_b"
                    ),
                )
            )
        self.output_conv = tf.keras.layers.Conv2D(
            self.output_channels, 3, padding="same", kernel_initializer="zeros", name="output_conv"
        )

    def call(self, inputs):
        theta, t = inputs
        embedding = self.time_embedding(t)
        h = self.input_conv(theta)
        for conv_a, time_dense, conv_b in self.blocks:
            u = conv_a(tf.nn.swish(h)) + time_dense(embedding)[:, None, None, :]
            h = h + conv_b(tf.nn.swish(u))
        return self.output_conv(tf.nn.swish(h))

    def get_config(self):
        return {
            **super().get_config(),
            "output_channels": self.output_channels,
            "filters": self.filters,
            "num_layers": self.num_layers,
            "dilation_rates": list(self.dilation_rates),
        }


@tf.keras.saving.register_keras_serializable(package="tfgen")
class BFNTransformer(tf.keras.layers.Layer):
    """A bidirectional (unmasked) pre-norm transformer over a sequence of theta vectors.

    The input projection of theta, learned position embeddings and the time
    embedding are summed; then `num_layers` blocks of self-attention and a
    GELU MLP, each a pre-norm residual branch; the output projection starts at
    zero (a uniform p_O).

    Reference:
      Graves et al. 2023, "Bayesian Flow Networks", arXiv 2308.07037,
      Sec. 3.2 (the network `Psi(theta, t)` whose outputs parameterise the
      output distribution `p_O(x | theta; t)`; the paper leaves its
      architecture open; it uses a transformer for text8).

    Args:
      output_dim: int, features per position of the output.
      seq_len: int, the maximum sequence length (learned position embeddings).
      model_dim: int, the residual width.
      num_layers: int, attention + MLP blocks.
      num_heads: int, attention heads (model_dim must be divisible by it).
      **kwargs: base `tf.keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
      inputs: tuple `(theta, t)`: float32 [B, L, K] with L <= seq_len, and float32 [B].

    Returns:
      float32 [B, L, output_dim].

    Example:

    >>> net = BFNTransformer(output_dim=3, seq_len=8, model_dim=16, num_layers=1,
    ...                      num_heads=2)
    >>> theta = tf.fill([2, 5, 3], 1 / 3)  # uniform over K = 3 categories, L = 5 <= seq_len
    >>> net((theta, tf.constant([0.0, 0.5]))).shape
    TensorShape([2, 5, 3])
    """

    def __init__(self, output_dim, seq_len, model_dim=64, num_layers=2, num_heads=4, **kwargs):
        super().__init__(**kwargs)
        self.output_dim = int(output_dim)
        self.seq_len = int(seq_len)
        self.model_dim = int(model_dim)
        self.num_layers = int(num_layers)
        self.num_heads = int(num_heads)
        if self.model_dim % self.num_heads:
            raise ValueError(
                f"model_dim: expected a multiple of num_heads={self.num_heads}, got "
                f"{self.model_dim}."
            )
        self.time_embedding = TimeEmbedding(self.model_dim, name="time_embedding")
        self.input_dense = tf.keras.layers.Dense(self.model_dim, name="input_dense")
        self.positions = tf.keras.layers.Embedding(self.seq_len, self.model_dim, name="positions")
        self.blocks = [
            (
                tf.keras.layers.LayerNormalization(name=f"block_{b}_norm_a"),
                tf.keras.layers.MultiHeadAttention(
                    self.num_heads, self.model_dim // self.num_heads, name=f"block_{b}_attention"
                ),
                tf.keras.layers.LayerNormalization(name=f"block_{b}_norm_b"),
                tf.keras.layers.Dense(
                    4 * self.model_dim, activation="gelu", name=f"block_{b}_mlp_in"
                ),
                tf.keras.layers.Dense(self.model_dim, name=f"block_{b}_mlp_out"),
            )
            for b in range(self.num_layers)
        ]
        self.output_norm = tf.keras.layers.LayerNormalization(name="output_norm")
        self.output_dense = tf.keras.layers.Dense(
            self.output_dim, kernel_initializer="zeros", name="output_dense"
        )

    def call(self, inputs):
        theta, t = inputs
        length = tf.shape(theta)[1]
        h = (
            self.input_dense(theta)
            + self.positions(tf.range(length))[None]
            + self.time_embedding(t)[:, None, :]
        )
        for norm_a, attention, norm_b, mlp_in, mlp_out in self.blocks:
            a = norm_a(h)
            h = h + attention(a, a)
            h = h + mlp_out(mlp_in(norm_b(h)))
        return self.output_dense(self.output_norm(h))

    def get_config(self):
        return {
            **super().get_config(),
            "output_dim": self.output_dim,
            "seq_len": self.seq_len,
            "model_dim": self.model_dim,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
        }
