"""Video Pixel Network (Kalchbrenner et al. 2016, arXiv 1610.00527).

A video x of T frames, each H x W with C colour channels, is modelled by the
four-dimensional chain of Sec. 2, Eq. 1-2:

    p(x) = prod_t prod_i prod_j prod_c p(x_{t,i,j,c} | x_{<t}, x_{t,<(i,j)}, x_{t,i,j,<c}).

Sec. 3: resolution-preserving encoders (`ResidualMultiplicativeBlock`s with
dilations, no down-sampling) read every past frame, a convolutional LSTM
carries their outputs through time, and its output, the context of frame t,
conditions a PixelCNN decoder of frame t built from masked residual
multiplicative blocks (`MaskedConv2D` with one colour group per channel). The
first `conditioning_frames` frames are given; the loss covers the rest.

Targets (Sec. 5.1, the Moving MNIST protocol): with `likelihood="sigmoid"`
each channel's grey level y in [0, 1] is the target of a sigmoid
cross-entropy, so a frame costs at least the targets' own entropy
`sum H(y)` (the paper's lower bound, 86.3 nats per 64x64 frame); samples are
Bernoulli pixels. With `likelihood="softmax"` each channel is one of
`num_levels` intensities under a softmax (Sec. 2, the paper's general model).

Sampling is a `tf.while_loop` over frames, nested over the pixels and
channels of a frame. The frame-level work (encoder, ConvLSTM step and the
projections of the context into every decoder unit) runs once per frame;
each pixel then runs only the decoder, on the strip of rows its receptive
field reaches, which gives exactly the logits of a full forward pass.
"""

import numpy as np
import tensorflow as tf

from tfgen import noise, registry
from tfgen.checks import check_choice, check_int, check_shape
from tfgen.layers.masked_conv import MaskedConv2D
from tfgen.layers.multiplicative import ResidualMultiplicativeBlock
from tfgen.models.base import GenerativeModel
from tfgen.signatures import signature_function

LIKELIHOODS = ("sigmoid", "softmax")


def _check_rates(rates):
    if not isinstance(rates, (list, tuple)):
        raise TypeError(f"encoder_dilation_rates: expected a list of ints, got {rates!r}.")
    return tuple(check_int(rate, "encoder_dilation_rates", 1) for rate in rates)


def grey_entropy(y):
    """Binary entropy `-y ln y - (1 - y) ln(1 - y)` in nats (0 at y = 0 or 1), elementwise."""
    y = tf.convert_to_tensor(y, tf.float32)
    return -(tf.math.xlogy(y, y) + tf.math.xlogy(1.0 - y, 1.0 - y))


@registry.register(
    "vpn",
    dataset="moving_digits",
    data_hparams=lambda info: {
        "frame_shape": tuple(info.features["video"].shape[1:]),
        "num_levels": info.num_levels,
    },
    signatures=("serving_default", "log_prob", "sample"),
)
class VideoPixelNetwork(GenerativeModel):
    """Video Pixel Network over videos `[batch, time, height, width, channels]` in [0, 1].

    Args:
      frame_shape: (height, width, channels) of a frame.
      conditioning_frames: int, the given frames at the start of a video; the
        loss and `log_prob` cover the frames after them (Sec. 5.1: 10 of 20).
      likelihood: "sigmoid" (grey-level targets, sigmoid cross-entropy, the
        Moving MNIST protocol) or "softmax" (`num_levels` intensities).
      num_levels: int, intensities per channel of the softmax likelihood.
      filters: int 2c, channels of every residual multiplicative block (a
        multiple of 2 * channels).
      kernel_size: odd int, kernel of the multiplicative units.
      first_kernel_size: odd int, kernel of the decoder's first (mask "A")
        convolution.
      encoder_dilation_rates: dilation of each encoder block (Sec. 5.1: 1, 2,
        4, 8 twice).
      lstm_filters: int, channels of the convolutional LSTM (the context).
      decoder_layers: int, masked residual multiplicative blocks of the decoder.
      temporal_context: bool; False drops the encoders and the ConvLSTM, so
        every frame is modelled alone by the PixelCNN decoder (the
        frame-independent baseline).

    Features are dicts with `video`: float32 [B, T, H, W, C] in [0, 1],
    T > `conditioning_frames`.
    """

    metric_names = ("nats_per_frame", "bound_nats_per_frame")

    def __init__(
        self,
        frame_shape=(64, 64, 1),
        conditioning_frames=10,
        likelihood="sigmoid",
        num_levels=256,
        filters=256,
        kernel_size=3,
        first_kernel_size=7,
        encoder_dilation_rates=(1, 2, 4, 8, 1, 2, 4, 8),
        lstm_filters=256,
        decoder_layers=12,
        temporal_context=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.frame_shape = check_shape(frame_shape, "frame_shape", 3)
        self.conditioning_frames = check_int(conditioning_frames, "conditioning_frames", 1)
        self.likelihood = check_choice(likelihood, "likelihood", LIKELIHOODS)
        self.num_levels = check_int(num_levels, "num_levels", 2)
        channels = self.frame_shape[2]
        self.filters = check_int(filters, "filters", 2 * channels)
        self.kernel_size = check_int(kernel_size, "kernel_size", 1)
        self.first_kernel_size = check_int(first_kernel_size, "first_kernel_size", 3)
        self.encoder_dilation_rates = _check_rates(encoder_dilation_rates)
        self.lstm_filters = check_int(lstm_filters, "lstm_filters", 1)
        self.decoder_layers = check_int(decoder_layers, "decoder_layers", 0)
        self.temporal_context = bool(temporal_context)

        if self.temporal_context:
            # 1610.00527 Sec. 3.1: resolution-preserving encoders, then the ConvLSTM (Sec. 3.2).
            self.encoder_input = tf.keras.layers.Conv2D(
                self.filters, self.kernel_size, padding="same", name="encoder_input"
            )
            self.encoder_blocks = [
                ResidualMultiplicativeBlock(
                    self.filters, self.kernel_size, rate, name=f"encoder_block_{i}"
                )
                for i, rate in enumerate(self.encoder_dilation_rates)
            ]
            self.conv_lstm = tf.keras.layers.ConvLSTM2D(
                self.lstm_filters,
                self.kernel_size,
                padding="same",
                return_sequences=True,
                return_state=True,
                name="conv_lstm",
            )
        # 1610.00527 Sec. 3.3: the PixelCNN decoder, one colour group per channel.
        self.decoder_input = MaskedConv2D(
            self.filters,
            self.first_kernel_size,
            "A",
            channel_groups=channels,
            name="decoder_input",
        )
        self.decoder_blocks = [
            ResidualMultiplicativeBlock(
                self.filters,
                self.kernel_size,
                mask_type="B",
                channel_groups=channels,
                context=self.temporal_context,
                name=f"decoder_block_{i}",
            )
            for i in range(self.decoder_layers)
        ]
        self.output_logits = MaskedConv2D(
            channels * self._outputs_per_channel,
            1,
            "B",
            channel_groups=channels,
            name="output_logits",
        )
        object.__setattr__(self, "_samplers", {})

    @property
    def _outputs_per_channel(self):
        return 1 if self.likelihood == "sigmoid" else self.num_levels

    @property
    def frame_dims(self):
        """The values of one frame, H * W * C."""
        return int(np.prod(self.frame_shape))

    @property
    def receptive_rows(self):
        """How many rows above a pixel the decoder reaches (the strip a sampling step decodes)."""
        return self.first_kernel_size // 2 + 2 * self.decoder_layers * (self.kernel_size // 2)

    # ----------------------------------------------------------------- inputs
    def _video(self, features):
        video = features["video"] if isinstance(features, dict) else features
        video = tf.convert_to_tensor(video)
        if video.dtype != tf.float32:
            raise TypeError(f"video: expected float32 grey levels in [0, 1], got {video.dtype}.")
        if video.shape.rank != 5 or tuple(video.shape[2:]) != self.frame_shape:
            raise ValueError(
                f"video: expected shape [batch, time, {', '.join(map(str, self.frame_shape))}]"
                f", got {video.shape}."
            )
        if video.shape[1] is not None and video.shape[1] <= self.conditioning_frames:
            raise ValueError(
                f"video: expected more than conditioning_frames={self.conditioning_frames} "
                f"frames, got {video.shape[1]}."
            )
        return video

    def _levels(self, video):
        """The softmax targets: intensities int32 in [0, num_levels)."""
        return tf.cast(tf.round(video * (self.num_levels - 1)), tf.int32)

    def _network_input(self, video):
        """What the encoders and the decoder read: the values modelled, scaled to [-1, 1]."""
        if self.likelihood == "softmax":
            video = tf.cast(self._levels(video), tf.float32) / (self.num_levels - 1)
        return 2.0 * video - 1.0

    # ---------------------------------------------------------------- network
    def _encode(self, frames):
        """Encoder outputs [B, T, H, W, filters] of frames [B, T, H, W, C] (time folded in)."""
        shape = tf.shape(frames)
        h = self.encoder_input(self._network_input(tf.reshape(frames, [-1, *self.frame_shape])))
        for block in self.encoder_blocks:
            h = block(h)
        return tf.reshape(h, tf.concat([shape[:2], [*self.frame_shape[:2], self.filters]], 0))

    def contexts(self, video):
        """Contexts [B, T - K, H, W, lstm_filters] of the predicted frames K .. T - 1 (or None).

        The context of frame t is the ConvLSTM's output after reading the
        encodings of frames 0 .. t - 1.
        """
        if not self.temporal_context:
            return None
        outputs = self.conv_lstm(self._encode(video[:, :-1]))[0]
        return outputs[:, self.conditioning_frames - 1 :]

    def context_terms(self, context):
        """Each decoder block's projections of `context` (see `ResidualMultiplicativeBlock`)."""
        return [block.context_terms(context) for block in self.decoder_blocks]

    def _decode(self, frame, context=None, terms=None):
        """Logits [B, H', W, C, outputs] of frames [B, H', W, C].

        The decoder blocks read `context` [B, H', W, lstm_filters], or, when
        sampling, its projections `terms` (`context_terms(context)`).
        """
        h = self.decoder_input(self._network_input(frame))
        for i, block in enumerate(self.decoder_blocks):
            h = block(h, context=context) if terms is None else block.call_cached(h, terms[i])
        logits = self.output_logits(tf.nn.relu(h))
        shape = tf.shape(logits)
        return tf.reshape(
            logits, tf.concat([shape[:3], [self.frame_shape[2], self._outputs_per_channel]], 0)
        )

    def call(self, features, training=False):
        """Logits [B, T - K, H, W, C, outputs] of the predicted frames."""
        video = self._video(features)
        predicted = video[:, self.conditioning_frames :]
        shape = tf.shape(predicted)
        frames = tf.reshape(predicted, [-1, *self.frame_shape])
        context = self.contexts(video)
        if context is not None:
            context = tf.reshape(context, [-1, *self.frame_shape[:2], self.lstm_filters])
        logits = self._decode(frames, context)
        return tf.reshape(logits, tf.concat([shape, tf.shape(logits)[-1:]], 0))

    # --------------------------------------------------------------- density
    def _nats(self, logits, video):
        """Cross-entropy [B, T - K] in nats of each predicted frame (Sec. 5.1 / Eq. 2)."""
        targets = video[:, self.conditioning_frames :]
        if self.likelihood == "sigmoid":
            nats = tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=logits[..., 0])
        else:
            nats = tf.nn.sparse_softmax_cross_entropy_with_logits(self._levels(targets), logits)
        return tf.reduce_sum(nats, axis=[2, 3, 4])

    def _bound(self, video):
        """The targets' own entropy [B] per predicted frame: no model's cross-entropy is lower."""
        if self.likelihood == "softmax":  # One-hot targets: zero entropy.
            return tf.zeros(tf.shape(video)[:1])
        entropy = grey_entropy(video[:, self.conditioning_frames :])
        return tf.reduce_mean(tf.reduce_sum(entropy, axis=[2, 3, 4]), axis=1)

    def log_prob(self, features):
        """log p(predicted frames | given frames) [B] in nats.

        With the sigmoid likelihood this is minus the paper's cross-entropy of
        the grey-level targets.
        """
        video = self._video(features)
        return -tf.reduce_sum(self._nats(self(video), video), axis=1)

    def compute_losses(self, features, training=False):
        video = self._video(features)
        nats = self._nats(self(video, training=training), video)
        loss = tf.reduce_mean(nats) / self.frame_dims
        metrics = {
            "nats_per_frame": tf.reduce_mean(nats, axis=1),
            "bound_nats_per_frame": self._bound(video),
        }
        return loss, metrics

    # -------------------------------------------------------------- sampling
    def _draw(self, logits, u, temperature):
        """Values in [0, 1] [N] of one channel from its logits [N, outputs] and uniforms [N]."""
        logits = logits / temperature
        if self.likelihood == "sigmoid":
            return tf.cast(u < tf.sigmoid(logits[:, 0]), tf.float32)
        level = noise.categorical_from_uniform(logits, u)
        return tf.cast(level, tf.float32) / (self.num_levels - 1)

    def row_logits(self, frame, terms, row):
        """Logits [N, W, C, outputs] of row `row` of `frame` [N, H, W, C].

        Only the strip of rows that `row` depends on is decoded (the rows
        above it within `receptive_rows`; masked convolutions see nothing
        below), which gives exactly the logits of decoding the whole frame.
        `terms` are `context_terms(context)` of the frame's context.
        """
        height = self.frame_shape[0]
        rows = min(height, self.receptive_rows + 1)
        start = tf.clip_by_value(row - self.receptive_rows, 0, height - rows)

        def strip(x):  # tf.slice keeps the strip's static height: faster convolutions than [a:b].
            return None if x is None else tf.slice(x, [0, start, 0, 0], [-1, rows, -1, -1])

        strip_terms = [[strip(term) for term in block_terms] for block_terms in terms]
        return self._decode(strip(frame), terms=strip_terms)[:, row - start]

    def _sample_frame(self, terms, uniform, temperature):
        """One frame [N, H, W, C], in raster order and then channel order."""
        _, width, channels = self.frame_shape
        positions = tf.reshape(tf.range(self.frame_dims), self.frame_shape)[None]

        def body(p, frame):
            i = p // (width * channels)
            j, c = (p // channels) % width, p % channels
            logits = self.row_logits(frame, terms, i)[:, j, c]
            value = self._draw(logits, uniform[:, i, j, c], temperature)
            return p + 1, tf.where(positions == p, value[:, None, None, None], frame)

        frame = tf.zeros(tf.concat([tf.shape(uniform)[:1], self.frame_shape], 0))
        return tf.while_loop(lambda p, _: p < self.frame_dims, body, (tf.constant(0), frame))[1]

    def _carry(self, frames, carry):
        """The ConvLSTM after reading `frames` [N, T, H, W, C]: (context, h, c), or () without it.

        `carry` is the state before (empty: the zero state).
        """
        if not self.temporal_context:
            return ()
        initial_state = list(carry[1:]) if carry else None
        outputs, h, c = self.conv_lstm(self._encode(frames), initial_state=initial_state)
        return outputs[:, -1], h, c

    def sample_given(self, given, uniform, temperature):
        """Samples frames after `given` [N, K', H, W, C] with uniforms [N, F, H, W, C].

        Returns:
          float32 frames [N, F, H, W, C] in [0, 1].
        """
        num_frames = tf.shape(uniform)[1]
        frames = tf.TensorArray(tf.float32, size=num_frames, element_shape=uniform[:, 0].shape)

        def body(t, carry, frames):
            # Frame-level work, once per frame: the context's projections into the decoder.
            terms = self.context_terms(carry[0] if carry else None)
            frame = self._sample_frame(terms, uniform[:, t], temperature)
            return t + 1, self._carry(frame[:, None], carry), frames.write(t, frame)

        initial = (tf.constant(0), self._carry(given, ()), frames)
        frames = tf.while_loop(lambda t, *_: t < num_frames, body, initial)[2]
        return tf.transpose(frames.stack(), [1, 0, 2, 3, 4])

    def _sampler(self, jit_compile):
        if jit_compile not in self._samplers:
            self._samplers[jit_compile] = tf.function(
                self.sample_given, jit_compile=jit_compile, autograph=False, reduce_retracing=True
            )
        return self._samplers[jit_compile]

    def _sample_graph(self, given, num_frames, seed, temperature, jit_compile):
        shape = tf.concat([tf.shape(given)[:1], [num_frames], self.frame_shape], 0)
        uniform = noise.uniform_from_seed(shape, seed)
        return self._sampler(jit_compile)(given, uniform, temperature)

    def sample(self, video, num_frames, seed=None, temperature=1.0, jit_compile=True):
        """Samples `num_frames` frames that continue `video`.

        Args:
          video: float32 [N, K', H, W, C] in [0, 1], the given frames (K' >= 1).
          num_frames: int >= 1, frames to generate.
          seed: int; the same seed gives the same frames (with either
            `jit_compile`). None draws one.
          temperature: float > 0 dividing the logits.
          jit_compile: run the sampling loop under XLA (default) or as a plain
            graph while loop.

        Returns:
          float32 [N, num_frames, H, W, C] in [0, 1].
        """
        video = tf.convert_to_tensor(video, tf.float32)
        if video.shape.rank != 5 or tuple(video.shape[2:]) != self.frame_shape:
            raise ValueError(
                f"video: expected shape [N, frames, {', '.join(map(str, self.frame_shape))}]"
                f", got {video.shape}."
            )
        if video.shape[1] == 0:
            raise ValueError("video: expected at least one given frame, got 0.")
        check_int(num_frames, "num_frames", 1)
        if not temperature > 0:
            raise ValueError(f"temperature: expected a positive float, got {temperature}.")
        if seed is None:
            seed = int(np.random.randint(0, 2**31 - 1))
        self.build_example()
        return self._sample_graph(
            video,
            tf.constant(num_frames, tf.int32),
            tf.constant(seed, tf.int64),
            tf.constant(temperature, tf.float32),
            bool(jit_compile),
        )

    # ---------------------------------------------------------------- export
    def build_example(self, batch_size=1):
        """Creates the variables by calling the model in a graph that never runs.

        Keras layers make their variables eagerly, outside the graph, on their
        first call: the variables (names, shapes, initial values) are those
        of a call on `example_features(batch_size)`, without its forward pass
        (seconds at the paper's size).

        Args:
          batch_size: int, the batch of the symbolic example video.

        Returns:
          The model.
        """
        if not self.built:
            shape = [batch_size, self.conditioning_frames + 2, *self.frame_shape]
            with tf.__internal__.FuncGraph("build_example").as_default():
                self(tf.zeros(shape))
        return self

    def example_features(self, batch_size=2, seed=0):
        """Random videos `video` [batch_size, K + 2, H, W, C] on the model's value grid."""
        shape = [batch_size, self.conditioning_frames + 2, *self.frame_shape]
        key = tf.constant([seed, 0], tf.int64)
        if self.likelihood == "sigmoid":
            return {"video": tf.random.stateless_uniform(shape, key)}
        levels = tf.random.stateless_uniform(shape, key, 0, self.num_levels, tf.int32)
        return {"video": tf.cast(levels, tf.float32) / (self.num_levels - 1)}

    def signatures(self, jit_compile=False):
        """`serving_default` and `log_prob` (video -> nats), and `sample` (continuations).

        Args:
          jit_compile: compile the sampling loop with XLA (else a plain graph
            while loop that any TF Serving build runs).
        """
        self.build_example()
        video_spec = tf.TensorSpec([None, None, *self.frame_shape], tf.float32, name="video")

        def density(video):
            log_prob = self.log_prob(video)
            predicted = tf.cast(tf.shape(video)[1] - self.conditioning_frames, tf.float32)
            return {"log_prob": log_prob, "nats_per_frame": -log_prob / predicted}

        sample_specs = [
            video_spec,
            tf.TensorSpec([], tf.int32, name="num_frames"),
            tf.TensorSpec([], tf.int64, name="seed"),
            tf.TensorSpec([], tf.float32, name="temperature"),
        ]

        def sample(video, num_frames, seed, temperature):
            return {"video": self._sample_graph(video, num_frames, seed, temperature, jit_compile)}

        intensities = {"video": (0.0, 1.0)}
        return {
            "serving_default": signature_function(density, [video_spec], intensities),
            "log_prob": signature_function(density, [video_spec], intensities),
            "sample": signature_function(sample, sample_specs, intensities),
        }
