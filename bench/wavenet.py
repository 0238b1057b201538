"""WaveNet generation speed: naive vs fast (graph, XLA) vs exported `generate` vs the student.

All rows use the same model (by default the 2-stack x 10-layer, 64 residual /
128 skip channel config, batch 1, one speaker id, no local conditioning) with
its initial weights, side by side in one run; the table goes into
docs/RESULTS.md. Naive generation re-runs the whole causal stack on the
growing waveform for every sample, so its cost per sample grows with the
length: it is timed on `--naive_samples` only and says so.

    python -m bench.wavenet [--num_samples 16000] [--naive_samples 500] [--repeats 2]
    python -m bench.wavenet --tiny   # a seconds-long smoke run of the script
"""

import os
import tempfile

import numpy as np
import tensorflow as tf
from absl import app, flags

import export
from bench import results
from tests.conformance import goldens
from tfgen import registry
from tfgen.data import audio

FLAGS = flags.FLAGS
flags.DEFINE_integer("num_samples", audio.SAMPLE_RATE, "Samples per fast-generation call.")
flags.DEFINE_integer("naive_samples", 500, "Samples per naive-generation call.")
flags.DEFINE_integer("repeats", 2, "Timed calls per row (after one warm-up call).")


def _rows(model, num_samples, naive_samples, repeats):
    speaker = tf.constant([0], tf.int32)
    seed, temperature = tf.constant(1, tf.int64), tf.constant(1.0)
    with tempfile.TemporaryDirectory() as tmp:
        exported = {
            xla: tf.saved_model.load(
                export.export_model(
                    model, os.path.join(tmp, "xla" if xla else "graph"), jit_compile=xla
                )
            ).signatures["generate"]
            for xla in (False, True)
        }
        calls = {
            "naive (graph)": (
                naive_samples,
                lambda: model.sample(
                    naive_samples, speaker=speaker, seed=1, jit_compile=False, method="naive"
                ),
            ),
            "fast (graph)": (
                num_samples,
                lambda: model.sample(num_samples, speaker=speaker, seed=1, jit_compile=False),
            ),
            "fast (XLA)": (
                num_samples,
                lambda: model.sample(num_samples, speaker=speaker, seed=1, jit_compile=True),
            ),
        }
        for xla, signature in exported.items():
            calls[f"exported `generate` ({'--xla' if xla else 'graph'})"] = (
                num_samples,
                lambda s=signature: s(
                    num_samples=tf.constant(num_samples),
                    speaker=speaker,
                    seed=seed,
                    temperature=temperature,
                ),
            )
        rates = {}
        for name, (samples, fn) in calls.items():
            seconds = float(np.median(results.time_calls(fn, repeats)))
            rates[name] = (samples, seconds, samples / seconds)
        rates.update(_student_rates(num_samples, repeats, tiny=FLAGS.tiny))
    naive_rate = rates["naive (graph)"][2]
    return [
        (
            name,
            samples,
            f"{seconds:.2f}",
            f"{rate:,.0f}",
            f"{rate / audio.SAMPLE_RATE:.3f}",
            f"{rate / naive_rate:.1f}x",
        )
        for name, (samples, seconds, rate) in rates.items()
    ]


def _student_rates(num_samples, repeats, tiny=False):
    """The Parallel WaveNet student's `generate` signature: one parallel pass per call."""
    args = dict(
        num_samples=tf.constant(num_samples),
        speaker=tf.constant([0], tf.int32),
        temperature=tf.constant(1.0),
        seed=tf.constant(1, tf.int64),
    )
    rates = {}
    for label, hparams in STUDENTS.items():
        if tiny:
            hparams = {**hparams, "flow_layers": [1, 2], "residual_channels": 8, "skip_channels": 8}
            label += " (tiny: 1,2, 8/8)"
        student = registry.build("parallel_wavenet", {**hparams, "teacher": TINY_TEACHER})
        for xla in (False, True):
            generate = student.signatures(jit_compile=xla)["generate"]
            seconds = float(np.median(results.time_calls(lambda g=generate: g(**args), repeats)))
            rates[f"Parallel WaveNet student {label}, `generate` ({'XLA' if xla else 'graph'})"] = (
                num_samples,
                seconds,
                num_samples / seconds,
            )
    return rates


# Student flows (layers per flow, residual / skip channels): the paper's 10, 10, 10, 30
# at the teacher's widths, and a 4 x 10-layer student at half width. The teacher a student
# holds is not used when generating, so a tiny one is built for the bench.
STUDENTS = {
    "10,10,10,30 (paper), 64/128": {
        "flow_layers": [10, 10, 10, 30],
        "residual_channels": 64,
        "skip_channels": 128,
    },
    "10,10,10,10, 32/64": {
        "flow_layers": [10, 10, 10, 10],
        "residual_channels": 32,
        "skip_channels": 64,
    },
}
TINY_TEACHER = {
    "num_stacks": 1,
    "layers_per_stack": 2,
    "residual_channels": 8,
    "skip_channels": 8,
    "num_components": 2,
}


def main(argv):
    del argv
    results.tiny_defaults(num_samples=64, naive_samples=16, repeats=1)
    if FLAGS.tiny:  # The test size (1 stack x 3 layers, 8 / 16 channels) without mel inputs.
        hparams = {
            key: goldens.TINY_WAVENET[key]
            for key in ("num_stacks", "layers_per_stack", "residual_channels", "skip_channels")
        }
    else:
        hparams = {
            "num_stacks": 2,
            "layers_per_stack": 10,
            "residual_channels": 64,
            "skip_channels": 128,
        }
    num_samples, naive_samples, repeats = FLAGS.num_samples, FLAGS.naive_samples, FLAGS.repeats
    model = registry.build("wavenet", hparams)
    model(model.example_features(1))
    rows = _rows(model, num_samples, naive_samples, repeats)
    text = (
        f"WaveNet generation at batch 1, {hparams['num_stacks']} stacks x "
        f"{hparams['layers_per_stack']} layers, {hparams['residual_channels']} residual / "
        f"{hparams['skip_channels']} skip channels, softmax head, speaker conditioning; "
        f"{results.machine()}; median of {repeats} calls after one warm-up call. Real-time "
        f"factor = generated seconds of 16 kHz audio per wall-clock second. Naive "
        f"generation re-runs the whole stack on the growing waveform (timed on "
        f"{naive_samples} samples; its per-sample cost grows with length). The Parallel "
        f"WaveNet students (untrained, flows of the stated layers and residual/skip "
        f"channels) generate all samples in one parallel pass of their `generate` "
        f"signature, called in process.\n\n"
    )
    text += results.markdown_table(
        ("method", "samples", "s/call", "samples/s", "x real time", "vs naive"), rows
    )
    results.write_block("wavenet", text)  # A --tiny run only prints it.


if __name__ == "__main__":
    app.run(main)
