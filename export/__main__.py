"""`python -m export` / `tfgen-export`: write a trained model as a SavedModel version.

    python -m export --model pixelcnn --checkpoint /tmp/run \
        --export_dir /tmp/models/pixelcnn [--version N] [--xla] \
        [--max_examples N --max_count N --max_work N]

`--checkpoint` is a training `model_dir` (its config.json and latest
checkpoint) or a checkpoint prefix. Prints the version directory written.
The `--max_*` limits are compiled into the signatures (`tfgen.signatures`):
a request for more work is refused before any work starts.
"""

from absl import app, flags

from export import saved_model
from tfgen.signatures import SignatureLimits

FLAGS = flags.FLAGS


def define_flags():
    """Defines the export flags (idempotent)."""
    if "export_dir" in FLAGS:
        return
    flags.DEFINE_string("model", None, "Registered model name (tfgen.registry.names()).")
    flags.DEFINE_string("checkpoint", None, "Training model_dir or checkpoint prefix.")
    flags.DEFINE_string("export_dir", None, "Model base path BASE/NAME; versions go below.")
    flags.DEFINE_integer("version", None, "Version number; default: the next integer.")
    flags.DEFINE_bool("xla", False, "Export the signatures with jit_compile=True.")
    flags.DEFINE_string("hparams", "", "Hyper-parameters, for a checkpoint without config.json.")
    flags.DEFINE_string("dataset", None, "Dataset, for a checkpoint without config.json.")
    defaults = SignatureLimits()
    flags.DEFINE_integer(
        "max_examples",
        defaults.max_examples,
        "Signatures refuse a request for more examples (batch size, or num_samples).",
    )
    flags.DEFINE_integer(
        "max_count",
        defaults.max_count,
        "Signatures refuse a larger count input (steps, length, num_frames, iterations).",
    )
    flags.DEFINE_integer(
        "max_work",
        defaults.max_work,
        "Signatures refuse a request whose examples times counts exceed this.",
    )
    flags.mark_flags_as_required(["model", "checkpoint", "export_dir"])


def main(argv):
    """Exports with the parsed flags."""
    if len(argv) > 1:
        raise app.UsageError(f"Expected only flags, got {argv[1:]}.")
    model = saved_model.load_trained(
        FLAGS.checkpoint, FLAGS.model, hparams=FLAGS.hparams, dataset=FLAGS.dataset
    )
    limits = SignatureLimits(FLAGS.max_examples, FLAGS.max_count, FLAGS.max_work)
    path = saved_model.export_model(
        model, FLAGS.export_dir, version=FLAGS.version, jit_compile=FLAGS.xla, limits=limits
    )
    print(f"Exported {FLAGS.model} to {path}", flush=True)


def run():
    """Console entry point (`tfgen-export`)."""
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
