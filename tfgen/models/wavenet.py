"""WaveNet (van den Oord et al. 2016, arXiv 1609.03499) with fast generation.

The network is `tfgen.layers.wavenet_block.WaveNetStack` (shifted causal
input convolution, gated residual blocks with dilations 1..2**(L-1) repeated
in stacks, summed skips, ReLU-1x1-ReLU-1x1 output), conditioned globally on a
one-hot speaker id and, optionally, locally on log-mel frames upsampled to the
sample rate by `ConditioningUpsampler`. Two output heads over 8-bit mu-law
audio: a 256-way softmax (Sec. 2.2), or a discretised mixture of logistics on
the companded value in [-1, 1] with 256 bins (the teacher of Parallel WaveNet,
arXiv 1711.10433 Sec. 2.2).

Generation is Fast Wavenet (Paine et al. 2016, arXiv 1611.09482): the causal
convolutions keep queues of their past inputs, so each new sample costs one
step per layer (`tfgen.layers.wavenet_generation.WaveNetGenerator`), inside a
`tf.while_loop` (XLA-compiled by default). For tests and benchmarks,
`sample(..., method="naive")` re-runs the whole causal stack on the growing
waveform at every step instead; with the same seed both give the same samples
in float32, since each sample is drawn by inverting a CDF at uniform noise
made from Philox bits (`tfgen.noise`). `generation_dtype="bfloat16"` runs the
fast loop's queues and matrix products in bfloat16 (its samples then differ
from the float32 ones once a rounding difference changes a draw).

Units: `log_prob` in nats per example (clip); the metric `bits_per_sample`.
"""

import functools
import math

import tensorflow as tf

from tfgen import noise, registry
from tfgen.checks import check_choice, check_int
from tfgen.data import audio
from tfgen.distributions import DiscretizedLogisticMixture
from tfgen.layers.upsampling import ConditioningUpsampler
from tfgen.layers.wavenet_block import WaveNetStack
from tfgen.layers.wavenet_generation import COMPUTE_DTYPES, WaveNetGenerator
from tfgen.models.base import GenerativeModel
from tfgen.signatures import signature_function

OUTPUTS = ("softmax", "logistic_mixture")


def _data_hparams(info):
    clip_length = info.features["audio"].shape[0]
    frames, num_mels = info.features["mel"].shape
    return {
        "clip_length": clip_length,
        "hop_length": clip_length // frames,
        "num_mels": num_mels,
        "num_speakers": info.num_labels or 0,
    }


def categorical_from_uniform(logits, u):
    """Inverse-CDF sample of a 256-way categorical at uniform `u`, searched in two levels.

    As `tfgen.noise.categorical_from_uniform` (the first class whose CDF
    exceeds `u`, here for the unnormalised probabilities `exp(logits - max)`),
    but the CDF is searched block by block: first among the 16 sums of 16
    classes each, then within the block found. XLA on CPU lowers a 256-long
    `cumsum` to a reduce-window of 256^2 additions per row, which made the
    draw about a quarter of a generation step at batch 16; two 16-long ones
    cost a twentieth of that. The two agree up to the rounding of the sums.

    Args:
      logits: float [batch, 256].
      u: float [batch] uniform numbers in (0, 1).

    Returns:
      int32 [batch] codes in [0, 256).
    """
    size = 16  # blocks of 16 classes, 16 blocks
    probs = tf.exp(logits - tf.reduce_max(logits, axis=-1, keepdims=True))
    blocks = tf.reshape(probs, tf.concat([tf.shape(logits)[:1], [size, size]], axis=0))
    sums = tf.reduce_sum(blocks, axis=-1)
    cdf = tf.cumsum(sums, axis=-1)
    target = u * cdf[:, -1]
    block = _count_at_most(cdf, target, size)
    before = tf.gather(cdf - sums, block, batch_dims=1)
    within = tf.cumsum(tf.gather(blocks, block, batch_dims=1), axis=-1) + before[:, None]
    return block * size + _count_at_most(within, target, size)


def _count_at_most(cdf, target, size):
    """The first index whose `cdf` [batch, size] exceeds `target` [batch], at most size - 1."""
    count = tf.reduce_sum(tf.cast(cdf <= target[:, None], tf.int32), axis=-1)
    return tf.minimum(count, size - 1)


def check_generation_args(num_samples, speaker, mel, seed, temperature):
    """Checks the arguments of audio generation; returns `seed`, drawn when None."""
    check_int(num_samples, "num_samples")
    if speaker is None and mel is None:
        raise ValueError("speaker: expected int ids [batch] (they give the batch size), got None.")
    if temperature <= 0:
        raise ValueError(f"temperature: expected a positive float, got {temperature}.")
    if seed is None:
        seed = int(tf.random.uniform([], 0, 2**31 - 1, tf.int32))
    return seed


@registry.register(
    "wavenet",
    dataset="audio",
    data_hparams=_data_hparams,
    signatures=("serving_default", "log_prob", "generate"),
)
class WaveNet(GenerativeModel):
    """WaveNet over 8-bit mu-law audio, with speaker and log-mel conditioning.

    Args:
      num_stacks: int, repetitions of the dilation pattern.
      layers_per_stack: int, gated blocks per stack (10: dilations 1..512).
      residual_channels: int, channels of the residual stream.
      skip_channels: int, channels of the skip connections and output layer.
      filter_width: int, taps of every causal convolution (2 in the paper).
      num_speakers: int, speaker ids for global conditioning; 0 for none.
      local_conditioning: bool, condition on log-mel frames (`mel`).
      num_mels: int, features per frame.
      hop_length: int, samples per frame (the upsampling factor).
      conditioning_channels: int, channels of the upsampled features y.
      output: "softmax" (256-way) or "logistic_mixture".
      num_components: int, logistic components of the mixture head.
      clip_length: int, samples per clip of `example_features` (the model
        itself takes any length; with local conditioning it must be
        `frames * hop_length`).
      generation_dtype: "float32" or "bfloat16", the compute dtype of fast
        generation (`sample` and the `generate` signature); training and
        `log_prob` stay float32. float32 is the default: bfloat16 samples
        equal the float32 (= naive) ones only until a draw falls within
        bfloat16 rounding of a CDF step, and XLA on CPU (TF 2.15) has no
        bfloat16 matrix kernel, so it converts and runs slower than float32.

    Features are dicts: `audio` int32 [B, T] mu-law codes in [0, 256),
    `speaker` int32 [B] (when `num_speakers` > 0), `mel` float32
    [B, T / hop_length, num_mels] (when `local_conditioning`).
    """

    metric_names = ("bits_per_sample", "nats_per_example")

    def __init__(
        self,
        num_stacks=2,
        layers_per_stack=10,
        residual_channels=64,
        skip_channels=128,
        filter_width=2,
        num_speakers=4,
        local_conditioning=False,
        num_mels=40,
        hop_length=256,
        conditioning_channels=32,
        output="softmax",
        num_components=10,
        clip_length=8192,
        generation_dtype="float32",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if output not in OUTPUTS:
            raise ValueError(f"output: expected one of {OUTPUTS}, got {output!r}.")
        if isinstance(num_speakers, bool) or not isinstance(num_speakers, int) or num_speakers < 0:
            raise ValueError(f"num_speakers: expected an int >= 0, got {num_speakers!r}.")
        if not isinstance(local_conditioning, bool):
            raise TypeError(f"local_conditioning: expected a bool, got {local_conditioning!r}.")
        self.num_speakers = num_speakers
        self.local_conditioning = local_conditioning
        self.num_mels = check_int(num_mels, "num_mels")
        self.hop_length = check_int(hop_length, "hop_length")
        self.conditioning_channels = check_int(conditioning_channels, "conditioning_channels")
        self.output_type = output
        self.num_components = check_int(num_components, "num_components")
        self.clip_length = check_int(clip_length, "clip_length")
        self.generation_dtype = check_choice(generation_dtype, "generation_dtype", COMPUTE_DTYPES)
        if local_conditioning and self.clip_length % self.hop_length:
            raise ValueError(
                f"clip_length: expected a multiple of hop_length="
                f"{self.hop_length}, got {self.clip_length}."
            )
        output_channels = audio.NUM_LEVELS if output == "softmax" else 3 * self.num_components
        self.stack = WaveNetStack(
            output_channels,
            num_stacks,
            layers_per_stack,
            residual_channels,
            skip_channels,
            filter_width,
            global_conditioning=num_speakers > 0,
            local_conditioning=local_conditioning,
            name="wavenet_stack",
        )
        self.upsampler = (
            ConditioningUpsampler(self.hop_length, self.conditioning_channels, name="upsampler")
            if local_conditioning
            else None
        )
        object.__setattr__(self, "_loops", {})  # compiled loops, not tracked by Keras

    @property
    def receptive_field(self):
        return self.stack.receptive_field

    # ----------------------------------------------------------------- inputs
    def _check_features(self, features):
        if not isinstance(features, dict):
            raise TypeError(
                f"features: expected a dict with 'audio', got {type(features).__name__}."
            )
        if features.get("audio") is None:
            raise ValueError(f"features: expected an 'audio' key, got {sorted(features)}.")
        codes = tf.convert_to_tensor(features["audio"])
        if codes.shape.rank != 2:
            raise ValueError(f"audio: expected shape [batch, time], got {codes.shape}.")
        if codes.dtype.is_floating or codes.dtype == tf.bool:
            raise TypeError(f"audio: expected integer mu-law codes, got {codes.dtype.name}.")
        return (
            tf.cast(codes, tf.int32),
            self._speaker(features.get("speaker")),
            self._mel(features.get("mel")),
        )

    def _speaker(self, speaker):
        """One-hot speaker ids h [B, num_speakers], or None when unconditional."""
        if not self.num_speakers:
            return None
        if speaker is None:
            raise ValueError(
                f"speaker: expected int ids [batch] (num_speakers={self.num_speakers}), got None."
            )
        speaker = tf.convert_to_tensor(speaker)
        if speaker.shape.rank != 1:
            raise ValueError(f"speaker: expected shape [batch], got {speaker.shape}.")
        if speaker.dtype.is_floating or speaker.dtype == tf.bool:
            raise TypeError(f"speaker: expected an integer dtype, got {speaker.dtype.name}.")
        return tf.one_hot(tf.cast(speaker, tf.int32), self.num_speakers)

    def _mel(self, mel):
        if not self.local_conditioning:
            return None
        if mel is None:
            raise ValueError(
                f"mel: expected float32 frames [batch, frames, {self.num_mels}] "
                f"(local_conditioning=True), got None."
            )
        mel = tf.convert_to_tensor(mel, tf.float32)
        if mel.shape.rank != 3 or mel.shape[-1] != self.num_mels:
            raise ValueError(
                f"mel: expected shape [batch, frames, {self.num_mels}], got {mel.shape}."
            )
        return mel

    def _encode(self, codes):
        """Network inputs: one-hot codes (softmax head) or values in [-1, 1] (mixture head)."""
        if self.output_type == "softmax":
            return tf.one_hot(codes, audio.NUM_LEVELS)
        return audio.codes_to_values(codes)[..., None]

    def _generator_input(self, codes):
        """`_encode` for `WaveNetGenerator.step`: the codes themselves stand for one-hot inputs."""
        return codes if self.output_type == "softmax" else self._encode(codes)

    # ---------------------------------------------------------------- network
    def call(self, features, training=False):
        """Output parameters [B, T, channels] of p(x_t | x_<t, h, y)."""
        codes, h, mel = self._check_features(features)
        y = self.upsampler(mel) if mel is not None else None
        return self.stack(self._encode(codes), global_condition=h, local_condition=y)

    def _mixture(self, params):
        logits, locs, log_scales = tf.split(params, 3, axis=-1)
        return DiscretizedLogisticMixture(logits, locs, log_scales, num_levels=audio.NUM_LEVELS)

    def _log_probs(self, params, codes):
        """Per-sample log p(x_t | x_<t) in nats, [B, T]."""
        if self.output_type == "softmax":
            return -tf.nn.sparse_softmax_cross_entropy_with_logits(codes, params)
        return self._mixture(params).log_prob(audio.codes_to_values(codes))

    def _draw(self, params, u, temperature):
        """Codes [B] from output parameters [B, channels] and uniform noise u [2, B]."""
        if self.output_type == "softmax":
            return categorical_from_uniform(params / temperature, u[0])
        mixture = self._mixture(params)
        return mixture.to_bins(mixture.sample_from_uniform(u[0], u[1], temperature))

    # --------------------------------------------------------------- density
    def compute_losses(self, features, training=False):
        codes = self._check_features(features)[0]
        log_probs = self._log_probs(self(features, training=training), codes)
        nats = -tf.reduce_sum(log_probs, axis=-1)
        num_samples = tf.cast(tf.shape(codes)[1], tf.float32)
        loss = tf.reduce_mean(nats) / num_samples  # nats per sample
        return loss, {
            "bits_per_sample": nats / (num_samples * math.log(2.0)),
            "nats_per_example": nats,
        }

    def log_prob(self, features, speaker=None, mel=None):
        """Per-example log-likelihood in nats [B].

        Args:
          features: a feature dict, or int codes [B, T] with the conditioning
            in `speaker` / `mel`.
        """
        if not isinstance(features, dict):
            features = {"audio": features, "speaker": speaker, "mel": mel}
        codes = self._check_features(features)[0]
        return tf.reduce_sum(self._log_probs(self(features), codes), axis=-1)

    # ------------------------------------------------------------- generation
    def _fast_loop(self, h, y, uniform, temperature, compute_dtype="float32"):
        """Fast Wavenet (1611.09482): one `WaveNetGenerator.step` per sample.

        Args:
          h: float [B, num_speakers] or None.
          y: float [B, >= T, conditioning_channels] upsampled features, or None.
          uniform: float [T, 2, B] uniform noise.
          temperature: float scalar.
          compute_dtype: "float32" or "bfloat16".

        Returns:
          int32 codes [B, T].
        """
        num_samples, batch = tf.shape(uniform)[0], tf.shape(uniform)[2]
        generator = WaveNetGenerator(self.stack, h, compute_dtype)
        codes = tf.TensorArray(tf.int32, size=num_samples, element_shape=[None])

        def body(t, previous, state, codes):
            local = tf.gather(y, t, axis=1) if y is not None else None
            params, state = generator.step(previous, state, t, local)
            code = self._draw(params, uniform[t], temperature)
            return t + 1, self._generator_input(code), state, codes.write(t, code)

        # At time 0 the shifted input is zero, as in `WaveNetStack.call` (code -1: no one-hot).
        if self.output_type == "softmax":
            start = tf.fill(tf.expand_dims(batch, 0), -1)
        else:
            start = tf.zeros(tf.stack([batch, 1]))
        loop_vars = (tf.constant(0), start, generator.initial_state(batch), codes)
        _, _, _, codes = tf.while_loop(lambda t, *_: t < num_samples, body, loop_vars)
        return tf.transpose(codes.stack())

    def _naive_loop(self, h, y, uniform, temperature):
        """Naive generation: the whole causal stack on the growing waveform, every step."""
        num_samples, batch = tf.shape(uniform)[0], tf.shape(uniform)[2]
        positions = tf.range(num_samples)[None, :]

        def body(t, codes):
            prefix = codes[:, : t + 1]
            local = y[:, : t + 1] if y is not None else None
            params = self.stack(self._encode(prefix), global_condition=h, local_condition=local)[
                :, t
            ]
            code = self._draw(params, uniform[t], temperature)
            return t + 1, tf.where(positions == t, code[:, None], codes)

        codes = tf.zeros(tf.stack([batch, num_samples]), tf.int32)
        _, codes = tf.while_loop(lambda t, _: t < num_samples, body, (tf.constant(0), codes))
        return codes

    def _loop(self, method, jit_compile, dtype):
        if method not in ("fast", "naive"):
            raise ValueError(f"method: expected 'fast' or 'naive', got {method!r}.")
        if method == "naive":
            if jit_compile:
                raise ValueError(
                    "jit_compile: expected False for method='naive' (its growing "
                    "waveform has a dynamic shape), got True."
                )
            if dtype != "float32":
                raise ValueError(
                    f"generation_dtype: expected 'float32' for method='naive' (the "
                    f"stack's own dtype), got {dtype!r}."
                )
            return self._naive_loop
        loop = functools.partial(self._fast_loop, compute_dtype=dtype)
        if not jit_compile:
            return loop
        if dtype not in self._loops:
            self._loops[dtype] = tf.function(
                loop, jit_compile=True, autograph=False, reduce_retracing=True
            )
        return self._loops[dtype]

    def _generate(
        self,
        num_samples,
        speaker,
        mel,
        seed,
        temperature,
        jit_compile=False,
        method="fast",
        dtype="float32",
    ):
        """Codes int32 [B, num_samples]; the batch size is that of `speaker` or `mel`."""
        h = self._speaker(speaker)
        mel = self._mel(mel)
        y = self.upsampler(mel) if mel is not None else None
        batch = tf.shape(speaker if speaker is not None else mel)[0]
        num_samples = tf.convert_to_tensor(num_samples, tf.int32)
        if y is not None:
            tf.debugging.assert_less_equal(
                num_samples,
                tf.shape(y)[1],
                message="num_samples: expected at most frames * hop_length samples",
            )
        uniform = noise.uniform_from_seed(tf.stack([num_samples, 2, batch]), seed)
        temperature = tf.convert_to_tensor(temperature, tf.float32)
        return self._loop(method, jit_compile, dtype)(h, y, uniform, temperature)

    def sample(
        self,
        num_samples,
        speaker=None,
        mel=None,
        seed=None,
        temperature=1.0,
        jit_compile=True,
        method="fast",
        generation_dtype=None,
    ):
        """Generates mu-law codes int32 [B, num_samples].

        Args:
          num_samples: int, audio samples to generate (at most
            `frames * hop_length` with local conditioning).
          speaker: int [B] speaker ids; gives the batch size B (required even
            for an unconditional model, whose ids are then ignored).
          mel: float32 [B, frames, num_mels] (when `local_conditioning`).
          seed: int; the same seed gives the same samples, whichever `method`
            and `jit_compile`. None draws one.
          temperature: float > 0 dividing the logits (and, for the mixture,
            multiplying the scales).
          jit_compile: compile the generation loop with XLA.
          method: "fast" (queues, one step per layer per sample) or "naive"
            (the whole stack on the growing waveform; plain graph, float32).
          generation_dtype: "float32" or "bfloat16" for the fast loop; None
            for the model's `generation_dtype`.
        """
        seed = check_generation_args(num_samples, speaker, mel, seed, temperature)
        dtype = check_choice(
            generation_dtype or self.generation_dtype, "generation_dtype", COMPUTE_DTYPES
        )
        self.build_example()
        if speaker is not None:
            speaker = tf.convert_to_tensor(speaker, tf.int32)
        key = (bool(jit_compile), method, dtype)
        if key not in self._loops:
            self._loops[key] = tf.function(
                lambda n, s, m, seed, temp: self._generate(n, s, m, seed, temp, *key),
                autograph=False,
                reduce_retracing=True,
            )
        return self._loops[key](
            tf.constant(num_samples, tf.int32),
            speaker,
            mel,
            tf.constant(seed, tf.int64),
            tf.constant(temperature, tf.float32),
        )

    # ---------------------------------------------------------------- export
    def example_features(self, batch_size=2, seed=0):
        keys = tf.random.split(tf.constant([seed, 0], tf.int64), 3)
        features = {
            "audio": tf.random.stateless_uniform(
                [batch_size, self.clip_length], keys[0], 0, audio.NUM_LEVELS, tf.int32
            )
        }
        if self.num_speakers:
            features["speaker"] = tf.random.stateless_uniform(
                [batch_size], keys[1], 0, self.num_speakers, tf.int32
            )
        else:
            features["speaker"] = tf.zeros([batch_size], tf.int32)
        if self.local_conditioning:
            features["mel"] = tf.random.stateless_normal(
                [batch_size, self.clip_length // self.hop_length, self.num_mels], keys[2]
            )
        return features

    def signatures(self, jit_compile=False):
        """`serving_default` and `log_prob` (audio -> nats), and `generate` (fast generation).

        Args:
          jit_compile: compile the generation loop with XLA (else a plain
            graph while loop that any TF Serving build runs).
        """
        self.build_example()
        speaker_spec = tf.TensorSpec([None], tf.int32, name="speaker")
        mel_spec = tf.TensorSpec([None, None, self.num_mels], tf.float32, name="mel")
        density_specs = [tf.TensorSpec([None, None], tf.int32, name="audio")]
        density_specs += [speaker_spec] if self.num_speakers else []
        density_specs += [mel_spec] if self.local_conditioning else []

        def density(audio, speaker=None, mel=None):
            log_prob = self.log_prob(audio, speaker, mel)
            num_samples = tf.cast(tf.shape(audio)[1], tf.float32)
            return {
                "log_prob": log_prob,
                "bits_per_sample": -log_prob / (num_samples * math.log(2.0)),
            }

        generate_specs = [tf.TensorSpec([], tf.int32, name="num_samples"), speaker_spec]
        generate_specs += [mel_spec] if self.local_conditioning else []
        generate_specs += [
            tf.TensorSpec([], tf.float32, name="temperature"),
            tf.TensorSpec([], tf.int64, name="seed"),
        ]

        def generate(num_samples, speaker, temperature, seed, mel=None):
            codes = self._generate(
                num_samples,
                speaker,
                mel,
                seed,
                temperature,
                jit_compile,
                dtype=self.generation_dtype,
            )
            return {"audio": codes, "waveform": audio.mu_law_decode(codes)}

        speakers = {"speaker": (0, self.num_speakers - 1)} if self.num_speakers else {}
        codes = {"audio": (0, audio.NUM_LEVELS - 1), **speakers}
        return {
            "serving_default": signature_function(density, density_specs, codes),
            "log_prob": signature_function(density, density_specs, codes),
            "generate": signature_function(generate, generate_specs, speakers),
        }
