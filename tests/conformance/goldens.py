"""Test specs of every registered model, kept apart from the library code.

Each `Golden` holds the tiny hyper-parameters and data a registered model is
tested at, and the values its export signatures take for their sampling
controls (`seed`, `temperature`, `num_samples`, `steps`). The conformance
suite, the model tests and the committed golden checkpoints
(`tests/conformance/checkpoints/`) all build from this table, in the habit of
Sonnet's `src/conformance/goldens.py`. A new model needs one row here.
"""

import dataclasses
from typing import Any, Mapping

import tensorflow as tf

from tfgen import registry

# Short audio clips: 4 frames of 32 samples, 4 mel bands.
AUDIO = {"clip_length": 128, "hop_length": 32, "frame_length": 64, "num_mels": 4}
TINY_WAVENET = {
    "num_stacks": 1,
    "layers_per_stack": 3,
    "residual_channels": 8,
    "skip_channels": 16,
    "conditioning_channels": 4,
}


@dataclasses.dataclass(frozen=True)
class Golden:
    """How one registered model is tested.

    Attributes:
      name: the registered name.
      hparams: overrides of the model's defaults (tiny sizes).
      dataset: the `tfgen.data` dataset the model is built and fitted on.
      dataset_options: its `tfgen.data.load` options.
      controls: the non-feature inputs of the export signatures.
    """

    name: str
    hparams: Mapping[str, Any]
    dataset: str
    dataset_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    controls: Mapping[str, Any] = dataclasses.field(default_factory=dict)


_BINARY_DIGITS = {"view": "binary"}
_CONV_BFN = {"filters": 8, "num_layers": 2}
_BFN_CONTROLS = {"steps": 4}

GOLDENS = {
    golden.name: golden
    for golden in [
        Golden(
            "pixelcnn",
            {
                "num_layers": 2,
                "filters": 8,
                "kernel_size": 3,
                "first_kernel_size": 3,
                "output_filters": 16,
            },
            "digits",
            _BINARY_DIGITS,
        ),
        Golden(
            "vpn",
            {
                "conditioning_frames": 1,
                "filters": 4,
                "first_kernel_size": 3,
                "encoder_dilation_rates": [1, 2],
                "lstm_filters": 4,
                "decoder_layers": 1,
            },
            "moving_digits",
            # 7x7 digits in 10x10 frames: the sampling signature runs 100 pixel steps a frame.
            {"frame_size": 10, "num_frames": 3, "num_digits": 1, "digit_size": 7},
            {"num_frames": 1},
        ),
        Golden("wavenet", {**TINY_WAVENET, "local_conditioning": True}, "audio", AUDIO),
        Golden(
            "parallel_wavenet",
            {
                "flow_layers": [2, 2],
                "residual_channels": 8,
                "skip_channels": 8,
                "local_conditioning": True,
                "conditioning_channels": 4,
                "num_cross_entropy_samples": 4,
                "stft_frame_length": 64,
                "stft_hop_length": 16,
                "teacher": {**TINY_WAVENET, "num_components": 2},
            },
            "audio",
            AUDIO,
        ),
        Golden("bfn_continuous", _CONV_BFN, "digits", {"view": "grey"}, _BFN_CONTROLS),
        Golden(
            "bfn_discretised", _CONV_BFN, "digits", {"view": "grey", "levels": 16}, _BFN_CONTROLS
        ),
        Golden("bfn_discrete", _CONV_BFN, "digits", _BINARY_DIGITS, _BFN_CONTROLS),
        Golden(
            "bfn_discrete_text",
            {"model_dim": 16, "num_layers": 1, "num_heads": 2},
            "text",
            {"seq_len": 16},
            _BFN_CONTROLS,
        ),
        Golden(
            "mixture_vae",
            {"num_components": 2, "latent_dim": 3, "hidden_units": 16},
            "digits",
            _BINARY_DIGITS,
        ),
        Golden(
            "acn",
            {
                "latent_dim": 3,
                "hidden_units": 16,
                "num_components": 2,
                "num_neighbours": 2,
                "num_layers": 2,
                "filters": 8,
                "kernel_size": 3,
                "first_kernel_size": 3,
                "output_filters": 16,
            },
            "digits",
            _BINARY_DIGITS,
            {"steps": 2},
        ),
        Golden(
            "draw",
            {
                "num_glimpses": 3,
                "hidden_units": 8,
                "latent_dim": 3,
                "read_size": 2,
                "write_size": 3,
            },
            "digits",
            _BINARY_DIGITS,
        ),
        # Batches of 4 digits are 2 episodes of 2.
        Golden(
            "kanerva_machine",
            {
                "episode_length": 2,
                "memory_size": 4,
                "code_size": 3,
                "key_size": 3,
                "address_size": 2,
                "hidden_units": 16,
            },
            "digits",
            _BINARY_DIGITS,
            {"iterations": 2},
        ),
        Golden(
            "act",
            {"units": 8, "max_ponder_steps": 3},
            "addition",
            {"num_digits": 2, "seq_len": 3},
        ),
        Golden(
            "grid_lstm",
            {"units": 8, "num_layers": 2},
            "text",
            {"seq_len": 8},
        ),
        Golden(
            "associative_lstm",
            {"units": 4, "num_copies": 2},
            "episodic_copy",
            {"num_chars": 3, "max_len": 3, "min_pause": 1, "max_pause": 2},
        ),
        # ByteNet: one block per network, dilated, so the generation queues hold 2 steps.
        Golden(
            "sam",
            {"units": 4, "memory_size": 8, "word_size": 3, "num_neighbours": 2},
            "associative_recall",
            {"num_bits": 2, "item_len": 1, "min_items": 2, "max_items": 2},
        ),
        Golden(
            "bytenet_lm",
            {"hidden_units": 4, "dilation_rates": [2], "num_sets": 1},
            "text",
            {"seq_len": 8},
            {"length": 5},
        ),
        Golden(
            "bytenet_translate",
            {"hidden_units": 4, "dilation_rates": [2], "num_sets": 1},
            "parallel_text",
            {"max_len": 8},
        ),
    ]
}


def model_names():
    """The registered names of kind "model" (agents have their own suite)."""
    return [name for name in registry.names() if registry.get(name).kind == registry.MODEL]


def build(name, **overrides):
    """Model `name` at its golden size (variables created), with `overrides`."""
    golden = GOLDENS[name]
    return registry.build(
        name, {**golden.hparams, **overrides}, golden.dataset, golden.dataset_options
    )


def load_dataset(name, split="train", batch_size=4):
    golden = GOLDENS[name]
    from tfgen import data

    return data.load(golden.dataset, split, batch_size=batch_size, **golden.dataset_options)


def signature_inputs(model, signature, batch_size=2, seed=0):
    """Fixed inputs for `signature` (a `tf.function` of `model.signatures()`).

    Feature inputs come from `model.example_features`; the sampling controls
    from the model's golden `controls`, else `seed + 7`, temperature 1 and
    `batch_size` samples.
    """
    features = model.example_features(batch_size, seed)
    controls = {"seed": seed + 7, "temperature": 1.0, "num_samples": batch_size}
    controls.update(GOLDENS[registry_name(model)].controls)
    inputs = {}
    for spec in tf.nest.flatten(signature.input_signature):
        value = features[spec.name] if spec.name in features else controls[spec.name]
        inputs[spec.name] = tf.cast(value, spec.dtype)
    return inputs


def registry_name(model):
    """The registered name of `model`'s class."""
    for name in model_names():
        if registry.get(name).model_class is type(model):
            return name
    raise ValueError(f"Expected a registered model, got {type(model).__name__}.")


def hparams_flag(name):
    """The golden hyper-parameters of `name` as a `--hparams key=value,...` string."""
    return ",".join(f"{key}={value!r}" for key, value in GOLDENS[name].hparams.items())
