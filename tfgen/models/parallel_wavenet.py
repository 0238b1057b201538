"""Parallel WaveNet (van den Oord et al. 2017, arXiv 1711.10433): a distilled IAF student.

The student (`tfgen.layers.iaf.InverseAutoregressiveFlow`) maps white
logistic noise z to audio (companded values in [-1, 1], Sec. 3) in one
parallel pass: a stack of WaveNet-like flows, each emitting a location and a
log-scale from its input's past. It is trained by Probability Density
Distillation (Sec. 3.1) from a frozen WaveNet teacher with the discretised
mixture-of-logistics head (`tfgen.models.wavenet.WaveNet`,
`output="logistic_mixture"`):

    KL(P_S || P_T) = H(P_S, P_T) - H(P_S),

the student entropy analytic (`E[sum_t ln s_t] + 2 T`), the cross-entropy
estimated per time step from `num_cross_entropy_samples` draws of the
student's logistic p_S(x_t | z_<t), with the teacher run once, in parallel,
on one student sample (`tfgen.distributions.distillation`). Added to it: the
power loss (Sec. 3.2.1), the squared Euclidean distance between the
time-averaged STFT powers `|STFT|^2` of the student sample and of the real
audio of the batch.

The teacher is a sub-model held by the student, frozen (`trainable=False`):
built from the `teacher` hyper-parameters (untrained, which is what the
conformance suite and unit tests distill from), or, with `teacher_dir`, from
a training run of `wavenet` (its `config.json` and latest checkpoint, as
written by `python -m training`). Its weights are also part of the student's
checkpoints, so a student run resumes with the teacher it started with.

Units: metrics in nats per audio sample (`kl_per_sample`,
`cross_entropy_per_sample`, `entropy_per_sample`); the teacher's density at
a continuous value is its bin mass over the bin width. `log_prob` is not
exported: an IAF's density of data needs a sequential inversion.
"""

import tensorflow as tf

from tfgen import noise, registry
from tfgen.checks import check_float, check_int
from tfgen.data import audio
from tfgen.distributions import distillation
from tfgen.layers.iaf import InverseAutoregressiveFlow
from tfgen.layers.upsampling import ConditioningUpsampler
from tfgen.models.base import GenerativeModel
from tfgen.models.wavenet import WaveNet, _data_hparams, check_generation_args
from tfgen.run_dir import RunDir
from tfgen.signatures import signature_function

# Teacher hyper-parameters the student fixes to its own (same data, same conditioning).
_SHARED = ("num_speakers", "local_conditioning", "num_mels", "hop_length", "clip_length")
DEFAULT_TEACHER = {
    "num_stacks": 2,
    "layers_per_stack": 10,
    "residual_channels": 64,
    "skip_channels": 128,
    "num_components": 10,
}


def _teacher_hparams(teacher, teacher_dir, shared):
    """The teacher's WaveNet hyper-parameters and checkpoint prefix (or None)."""
    if teacher_dir:
        try:
            config, prefix = RunDir(teacher_dir).model_checkpoint("wavenet")
        except ValueError as error:
            raise ValueError(
                f"teacher_dir: expected a `wavenet` training run, got {teacher_dir!r}: {error}"
            ) from error
        hparams = dict(config["hparams"])
    else:
        if not isinstance(teacher, dict):
            raise TypeError(
                f"teacher: expected a dict of wavenet hparams, got {type(teacher).__name__}."
            )
        hparams, prefix = {"output": "logistic_mixture", **teacher}, None
        for key, value in shared.items():
            hparams.setdefault(key, value)
    if hparams.get("output") != "logistic_mixture":
        raise ValueError(
            f"teacher: expected output='logistic_mixture', got {hparams.get('output')!r}."
        )
    for key, value in shared.items():
        if key != "clip_length" and hparams.get(key) != value:
            raise ValueError(
                f"teacher: expected {key}={value!r} (the student's), got {hparams.get(key)!r}."
            )
    return hparams, prefix


@registry.register(
    "parallel_wavenet",
    dataset="audio",
    data_hparams=_data_hparams,
    signatures=("serving_default", "generate"),
)
class ParallelWaveNet(GenerativeModel):
    """An IAF student distilled from a frozen WaveNet teacher.

    Args:
      flow_layers: list of ints, dilated layers per flow (the paper: 10, 10,
        10, 30).
      layers_per_stack: int, layers per dilation cycle 1..2**(n-1) in a flow.
      residual_channels, skip_channels, filter_width: ints, every flow's
        WaveNet sizes.
      num_speakers: int, speaker ids for global conditioning; 0 for none.
      local_conditioning: bool, condition on log-mel frames (`mel`).
      num_mels: int, features per frame.
      hop_length: int, samples per frame.
      conditioning_channels: int, channels of the student's upsampled features.
      clip_length: int, samples per clip of `example_features`.
      initial_scale: float, the student's composed logistic scale at
        initialisation (the flows' last layers start at zero).
      num_cross_entropy_samples: int K, draws per time step of the
        cross-entropy estimate.
      power_loss_weight: float, weight of the power loss (0 disables it). The
        loss is a sum of squared powers, so its scale grows with the STFT's
        frame length (as its fourth power for tones): with the default STFT
        it is about 1e6 at initialisation on the `audio` data (1e5-3e7 per
        clip), the KL O(1) nats per sample, hence 1e-7.
      stft_frame_length, stft_hop_length: ints, the power loss's STFT.
      flow_dtype: str, the dtype policy of the student's flows:
        "float32", or "mixed_bfloat16" (bfloat16 matrix products, float32
        weights; each flow's last 1x1, the composition, the noise, the
        teacher and the losses stay float32).
      teacher: dict of `wavenet` hyper-parameters (architecture, mixture,
        `conditioning_channels`) for a teacher built here, untrained; the
        shared ones (`num_speakers`, `local_conditioning`, `num_mels`,
        `hop_length`) are the student's. None: `DEFAULT_TEACHER`. Ignored
        with `teacher_dir`.
      teacher_dir: str, a `python -m training` run of `wavenet` with
        `output="logistic_mixture"` and the student's conditioning; its
        latest checkpoint is the teacher. "" for none.

    Features are dicts: `audio` int32 [B, T] mu-law codes (the power loss's
    target and the sample length), `speaker` int32 [B], `mel` float32
    [B, T / hop_length, num_mels] (when `local_conditioning`).
    """

    metric_names = ("kl_per_sample", "cross_entropy_per_sample", "entropy_per_sample", "power_loss")

    def __init__(
        self,
        flow_layers=(10, 10, 10, 30),
        layers_per_stack=10,
        residual_channels=64,
        skip_channels=128,
        filter_width=2,
        num_speakers=4,
        local_conditioning=False,
        num_mels=40,
        hop_length=256,
        conditioning_channels=32,
        clip_length=8192,
        initial_scale=0.05,
        num_cross_entropy_samples=16,
        power_loss_weight=1e-7,
        stft_frame_length=512,
        stft_hop_length=128,
        flow_dtype="float32",
        teacher=None,
        teacher_dir="",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(teacher_dir, str):
            raise TypeError(f"teacher_dir: expected a str, got {type(teacher_dir).__name__}.")
        self.num_cross_entropy_samples = check_int(
            num_cross_entropy_samples, "num_cross_entropy_samples"
        )
        self.power_loss_weight = check_float(power_loss_weight, "power_loss_weight", 0.0)
        self.stft_frame_length = check_int(stft_frame_length, "stft_frame_length")
        self.stft_hop_length = check_int(stft_hop_length, "stft_hop_length")
        self.conditioning_channels = check_int(conditioning_channels, "conditioning_channels")
        self.teacher_config = dict(DEFAULT_TEACHER if teacher is None else teacher)
        self.teacher_dir = teacher_dir
        shared = dict(
            zip(_SHARED, (num_speakers, local_conditioning, num_mels, hop_length, clip_length))
        )
        hparams, prefix = _teacher_hparams(self.teacher_config, teacher_dir, shared)
        hparams["clip_length"] = clip_length
        # The frozen teacher (Sec. 3.1); WaveNet checks the shared conditioning hparams.
        self.teacher = WaveNet(**hparams, name="teacher")
        self.teacher.build_example()
        if prefix is not None:
            tf.train.Checkpoint(model=self.teacher).restore(
                prefix
            ).expect_partial().assert_existing_objects_matched()
        self.teacher.trainable = False
        self.flow = InverseAutoregressiveFlow(
            flow_layers,
            layers_per_stack,
            residual_channels,
            skip_channels,
            filter_width,
            global_conditioning=num_speakers > 0,
            local_conditioning=local_conditioning,
            initial_scale=initial_scale,
            flow_dtype=flow_dtype,
            name="flow",
        )
        self.upsampler = (
            ConditioningUpsampler(
                self.teacher.hop_length, self.conditioning_channels, name="upsampler"
            )
            if local_conditioning
            else None
        )

    @property
    def num_speakers(self):
        return self.teacher.num_speakers

    @property
    def local_conditioning(self):
        return self.teacher.local_conditioning

    # ----------------------------------------------------------------- student
    def _conditions(self, speaker, mel):
        """(h [B, num_speakers] or None, mel checked [B, frames, num_mels] or None)."""
        return self.teacher._speaker(speaker), self.teacher._mel(mel)

    def student(self, z, speaker=None, mel=None):
        """The student's pass over logistic noise (Sec. 3): one parallel pass, no loop.

        Args:
          z: float [B, T] logistic noise.
          speaker: int [B] speaker ids (when `num_speakers` > 0).
          mel: float [B, frames, num_mels] with `frames * hop_length >= T`
            (when `local_conditioning`).

        Returns:
          `(x, loc, log_scale)` float [B, T]: the sample (companded values)
          and the logistic p_S(x_t | z_<t) = Logistic(loc_t, exp(log_scale_t)).
        """
        h, mel = self._conditions(speaker, mel)
        y = self.upsampler(mel)[:, : tf.shape(z)[1]] if mel is not None else None
        return self.flow(z, global_condition=h, local_condition=y)

    def call(self, features, training=False):
        """The student's sample x [B, T] for the features' conditioning, from seed 0.

        T is the length of `features["audio"]`; see `student` and `sample`.
        """
        codes = self.teacher._check_features(features)[0]
        u = noise.uniform_from_seed(tf.shape(codes), 0)
        return self.student(
            distillation.logistic_noise(u), features.get("speaker"), features.get("mel")
        )[0]

    # ------------------------------------------------------------ distillation
    def _power_loss(self, x, codes):
        """Sec. 3.2.1 on the waveforms: ||phi(student) - phi(real)||^2 [B], see `power_loss`."""
        student = audio.mu_law_decode((tf.clip_by_value(x, -1.0, 1.0) + 1.0) * (audio.MU / 2))
        return distillation.power_loss(
            student, audio.mu_law_decode(codes), self.stft_frame_length, self.stft_hop_length
        )

    def distillation_terms(self, features, seed):
        """Per-example distillation terms for one student sample per example.

        Args:
          features: a feature dict (`audio` gives the length and the power
            loss's target; `speaker`, `mel` the conditioning).
          seed: int scalar; the noise z and the K cross-entropy draws per
            step come from it (stateless).

        Returns:
          A dict of float [B]: `cross_entropy` and `entropy` (nats per
          example: H(P_S, P_T) estimated per step, Sec. 3.1, and
          `sum_t ln s_t + 2 T`), `kl` (their difference), `power` (the
          power loss), and `x` [B, T], the student sample.
        """
        codes = self.teacher._check_features(features)[0]
        shape = tf.shape(codes)
        noise_seed, draw_seed = tf.unstack(
            tf.random.experimental.stateless_split(noise.seed_pair(seed), 2)
        )
        z = distillation.logistic_noise(noise.uniform_from_seed(shape, noise_seed))
        x, loc, log_scale = self.student(z, features.get("speaker"), features.get("mel"))
        # The teacher's p_T(x_t | x_<t) for all t in one causal pass over the sample.
        h, mel = self._conditions(features.get("speaker"), features.get("mel"))
        y = self.teacher.upsampler(mel) if mel is not None else None
        mixture = self.teacher._mixture(
            self.teacher.stack(x[..., None], global_condition=h, local_condition=y)
        )
        u = noise.uniform_from_seed(
            tf.concat([[self.num_cross_entropy_samples], shape], 0), draw_seed
        )
        cross_entropy = tf.reduce_sum(
            distillation.per_step_cross_entropy(mixture, loc, log_scale, u), axis=-1
        )
        entropy = tf.reduce_sum(distillation.logistic_entropy(log_scale), axis=-1)
        return {
            "cross_entropy": cross_entropy,
            "entropy": entropy,
            "kl": cross_entropy - entropy,
            "power": self._power_loss(x, codes),
            "x": x,
        }

    def compute_losses(self, features, training=False):
        seed = tf.random.uniform([], 0, 2**31 - 1, tf.int64)  # fresh noise every step
        terms = self.distillation_terms(features, seed)
        num_samples = tf.cast(tf.shape(terms["x"])[1], tf.float32)
        kl = terms["kl"] / num_samples
        loss = tf.reduce_mean(kl) + self.power_loss_weight * tf.reduce_mean(terms["power"])
        return loss, {
            "kl_per_sample": kl,
            "cross_entropy_per_sample": terms["cross_entropy"] / num_samples,
            "entropy_per_sample": terms["entropy"] / num_samples,
            "power_loss": terms["power"],
        }

    # -------------------------------------------------------------- generation
    def _generate(self, num_samples, speaker, mel, seed, temperature):
        """Codes int32 [B, num_samples] and waveform float32, in one parallel pass."""
        batch = tf.shape(speaker if speaker is not None else mel)[0]
        num_samples = tf.convert_to_tensor(num_samples, tf.int32)
        if mel is not None:
            tf.debugging.assert_less_equal(
                num_samples,
                tf.shape(mel)[1] * self.teacher.hop_length,
                message="num_samples: expected at most frames * hop_length samples",
            )
        u = noise.uniform_from_seed(tf.stack([batch, num_samples]), seed)
        z = tf.cast(temperature, tf.float32) * distillation.logistic_noise(u)
        codes = audio.values_to_codes(self.student(z, speaker, mel)[0])
        return {"audio": codes, "waveform": audio.mu_law_decode(codes)}

    def sample(self, num_samples, speaker=None, mel=None, seed=None, temperature=1.0):
        """Generates mu-law codes int32 [B, num_samples] in one parallel pass.

        Args:
          num_samples: int, audio samples (at most `frames * hop_length` with
            local conditioning).
          speaker: int [B] speaker ids; gives the batch size B (required even
            for an unconditional model).
          mel: float32 [B, frames, num_mels] (when `local_conditioning`).
          seed: int; the same seed gives the same samples. None draws one.
          temperature: float > 0 multiplying the logistic noise z.
        """
        seed = check_generation_args(num_samples, speaker, mel, seed, temperature)
        if speaker is not None:
            speaker = tf.convert_to_tensor(speaker, tf.int32)
        return self._generate(num_samples, speaker, mel, tf.constant(seed, tf.int64), temperature)[
            "audio"
        ]

    # ------------------------------------------------------------------ export
    def example_features(self, batch_size=2, seed=0):
        return self.teacher.example_features(batch_size, seed)

    def signatures(self, jit_compile=False):
        """`serving_default` and `generate`: noise -> audio in one parallel pass.

        Args:
          jit_compile: compile the pass with XLA.
        """
        self.build_example()
        specs = [
            tf.TensorSpec([], tf.int32, name="num_samples"),
            tf.TensorSpec([None], tf.int32, name="speaker"),
        ]
        specs += (
            [tf.TensorSpec([None, None, self.teacher.num_mels], tf.float32, name="mel")]
            if self.local_conditioning
            else []
        )
        specs += [
            tf.TensorSpec([], tf.float32, name="temperature"),
            tf.TensorSpec([], tf.int64, name="seed"),
        ]
        pass_ = (
            tf.function(self._generate, jit_compile=True, autograph=False)
            if jit_compile
            else self._generate
        )

        def generate(num_samples, speaker, temperature, seed, mel=None):
            return pass_(num_samples, speaker, mel, seed, temperature)

        speakers = self.num_speakers
        function = signature_function(
            generate, specs, {"speaker": (0, speakers - 1)} if speakers else {}
        )
        return {"serving_default": function, "generate": function}
