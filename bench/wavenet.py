"""WaveNet generation speed and its profile, beside this machine's limits, in one run.

Two blocks of docs/RESULTS.md, both about the 2-stack x 10-layer, 64 residual /
128 skip channel WaveNet (softmax head, speaker conditioning, no local
conditioning, initial weights), each printed beside `bench.limits`' table:

1. `wavenet`: samples per second at batch 1 and 16 (aggregate over the batch)
   and the real-time factor, for fast generation through `model.sample` and
   through the exported `generate` signature (plain graph and `--xla`), in
   float32 and bfloat16 (`generation_dtype`), against naive generation (the
   whole causal stack re-run on the growing waveform for every sample, timed on
   `--naive_samples`, since its cost per sample grows with the length);
2. `wavenet_profile`: where a fast XLA generation step spends its time at
   each batch size, from XLA loops that do cumulatively more of the step (the
   difference between rows is the cost of a part), and the FLOP rate of
   `model.sample` at batch 1 as a fraction of the machine's batch-1 limit.

The Parallel WaveNet student has its own bench (`bench.parallel_wavenet`).

    python -m bench.wavenet [--num_samples 16000] [--graph_samples 4000] [--repeats 2]
        [--profile_samples 4000] [--batch_sizes 1,16] [--dtypes float32,bfloat16]
    python -m bench.wavenet --tiny   # a seconds-long smoke run of the script
"""

import os
import tempfile

import numpy as np
import tensorflow as tf
from absl import app, flags

import export
from bench import limits, results
from tests.conformance import goldens
from tfgen import noise, registry
from tfgen.data import audio
from tfgen.layers.wavenet_generation import COMPUTE_DTYPES, WaveNetGenerator

FLAGS = flags.FLAGS
flags.DEFINE_integer("num_samples", audio.SAMPLE_RATE, "Samples per XLA generation call.")
flags.DEFINE_integer("graph_samples", 4000, "Samples per plain-graph generation call.")
flags.DEFINE_integer("naive_samples", 500, "Samples per naive-generation call.")
flags.DEFINE_list("batch_sizes", ["1", "16"], "Batch sizes of the speed table.")
flags.DEFINE_integer("repeats", 2, "Timed calls per row (after one warm-up call).")
flags.DEFINE_integer("profile_samples", 4000, "Steps per call of the profile's loops.")
flags.DEFINE_list("dtypes", list(COMPUTE_DTYPES), "Generation dtypes of the speed table.")

PAPER_SIZE = {
    "num_stacks": 2,
    "layers_per_stack": 10,
    "residual_channels": 64,
    "skip_channels": 128,
}


def multiply_adds_per_sample(model):
    """Multiply-adds of one fast-generation step per sequence: every weight matrix used once.

    Counted: the dilated convolutions (k taps of R -> 2R per layer), the
    residual 1x1s (R -> R, all layers but the last), the skip 1x1s (R -> S),
    the output head (S -> S -> outputs). Not counted: the input convolution of
    the softmax head (a gather of kernel rows for a one-hot input), the speaker
    projections (computed once per call), gates, biases and sampling.

    Returns:
      `{part: multiply-adds}`.
    """
    stack = model.stack
    r, s, layers = stack.residual_channels, stack.skip_channels, len(stack.blocks)
    return {
        "dilated convs": layers * stack.filter_width * r * 2 * r,
        "residual/skip 1x1s": (layers - 1) * r * r + layers * r * s,
        "output head": s * s + s * stack.output_channels,
    }


# ------------------------------------------------------------------ speed table
def _exported(models, directory):
    """`{(dtype, xla): generate signature}`: each model exported as graph and as `--xla`."""
    return {
        (dtype, xla): tf.saved_model.load(
            export.export_model(
                model, os.path.join(directory, dtype, "xla" if xla else "graph"), 1, xla
            )
        ).signatures["generate"]
        for dtype, model in models.items()
        for xla in (True, False)
    }


def _calls(models, exported, batch_size):
    """`{(method, dtype): (samples, fn)}` of fast generation at `batch_size`."""
    speaker = tf.zeros([batch_size], tf.int32)
    calls = {}
    for dtype, model in models.items():
        for xla in (True, False):
            samples = FLAGS.num_samples if xla else FLAGS.graph_samples
            calls[(f"`model.sample` ({'XLA' if xla else 'graph'})", dtype)] = (
                samples,
                lambda m=model, n=samples, x=xla: m.sample(
                    n, speaker=speaker, seed=1, jit_compile=x
                ),
            )
            calls[(f"exported `generate` ({'--xla' if xla else 'graph'})", dtype)] = (
                samples,
                lambda g=exported[(dtype, xla)], n=samples: g(
                    num_samples=tf.constant(n),
                    speaker=speaker,
                    seed=tf.constant(1, tf.int64),
                    temperature=tf.constant(1.0),
                ),
            )
    return calls


def _seconds(fn):
    return float(np.median(results.time_calls(fn, FLAGS.repeats)))


def speed_rows(model, models, machine, flops_per_sample):
    """Rows of the speed table: naive generation first, then fast generation per batch size.

    Args:
      model: the float32 model, for naive generation.
      models: `{generation dtype: model}` of the same weights, for fast generation.
      machine: `bench.limits.measure()`.
      flops_per_sample: FLOPs of one step per sequence.
    """
    seconds = _seconds(
        lambda: model.sample(
            FLAGS.naive_samples, speaker=[0], seed=1, jit_compile=False, method="naive"
        )
    )
    naive_rate = FLAGS.naive_samples / seconds
    rows = [_row("naive (graph)", 1, "float32", FLAGS.naive_samples, seconds, naive_rate, "")]
    with tempfile.TemporaryDirectory() as directory:
        exported = _exported(models, directory)
        for batch_size in map(int, FLAGS.batch_sizes):
            for (method, dtype), (samples, fn) in _calls(models, exported, batch_size).items():
                seconds = _seconds(fn)
                rate = batch_size * samples / seconds
                limit, name = (
                    (machine["fp32_matvec"], "matvec")
                    if batch_size == 1
                    else (machine[f"{'fp32' if dtype == 'float32' else 'bf16'}_matmul"], "matmul")
                )
                flops = rate * flops_per_sample
                fraction = f"{flops / 1e9:.1f} ({flops / limit:.0%} of {name})"
                rows.append(_row(method, batch_size, dtype, samples, seconds, naive_rate, fraction))
    return rows


def _row(method, batch_size, dtype, samples, seconds, naive_rate, fraction):
    rate = batch_size * samples / seconds
    return (
        method,
        batch_size,
        dtype,
        samples,
        f"{seconds:.2f}",
        f"{rate:,.0f}",
        f"{rate / audio.SAMPLE_RATE:.3f}",
        f"{rate / naive_rate:.1f}x",
        fraction or "-",
    )


# ------------------------------------------------------------------ profile
PROFILE_LEVELS = (
    "loop only (noise, code write)",
    "+ input conv, queue reads and writes",
    "+ past-tap products (one batched matmul)",
    "+ current taps, gates, residual/skip 1x1s",
    "+ output head",
    "+ sampling (= fast XLA generation)",
)


def _pseudo_code(u, value):
    """A code that depends on `value` without sampling, so XLA cannot drop the work."""
    mean = tf.reduce_mean(tf.cast(value, tf.float32), axis=-1)
    return tf.clip_by_value(tf.cast((u + 1e-3 * mean) * audio.MU, tf.int32), 0, audio.MU)


def _profile_step(model, generator, level, previous, state, t, u):
    """The first `level + 1` parts of a fast-generation step: (code, state)."""
    if level == 0:
        return _pseudo_code(u[0], previous[:, None]), state
    partial, queues = state
    x, partial = generator._input_conv(previous, partial)
    taps = generator._taps(queues, t)
    if level in (1, 2):
        value = taps if level == 1 else generator._past_terms(taps, None)
        x += value[0][:, : model.stack.residual_channels]
        inputs = [x] * len(model.stack.blocks)
        return _pseudo_code(u[0], x), (partial, generator._push(queues, inputs, t))
    inputs, skip = generator._layers(x, generator._past_terms(taps, None))
    state = (partial, generator._push(queues, inputs, t))
    if level == 3:
        return _pseudo_code(u[0], skip), state
    params = generator._head(skip)
    if level == 4:
        return _pseudo_code(u[0], params), state
    return model._draw(params, u, tf.constant(1.0)), state


def _profile_loop(model, level):
    """An XLA while loop doing the first `level + 1` parts of each step (batch: `uniform`'s)."""

    @tf.function(jit_compile=True, autograph=False)
    def run(uniform):
        batch_size = uniform.shape[2]
        speakers = tf.one_hot(tf.zeros([batch_size], tf.int32), model.num_speakers)
        generator = WaveNetGenerator(model.stack, speakers)

        def body(t, previous, state, codes):
            code, state = _profile_step(model, generator, level, previous, state, t, uniform[t])
            return t + 1, code, state, codes.write(t, code)

        codes = tf.TensorArray(tf.int32, size=tf.shape(uniform)[0], element_shape=[batch_size])
        start = tf.fill([batch_size], -1)
        loop_vars = (tf.constant(0), start, generator.initial_state(batch_size), codes)
        return tf.while_loop(lambda t, *_: t < tf.shape(uniform)[0], body, loop_vars)[3].stack()

    return run


def profile_rows(model, num_samples, batch_sizes):
    """Rows (part, then per batch size: us/step, us/step of the part, share) of the profile."""
    columns = []
    for batch_size in batch_sizes:
        uniform = noise.uniform_from_seed([num_samples, 2, batch_size], 1)
        micros = []
        for level in range(len(PROFILE_LEVELS)):
            run = _profile_loop(model, level)
            micros.append(1e6 * _seconds(lambda r=run, u=uniform: r(u)) / num_samples)
        parts = np.diff(micros, prepend=0.0)
        columns.append(
            [
                (f"{total:.1f}", f"{part:+.1f}", f"{part / micros[-1]:.0%}")
                for total, part in zip(micros, parts)
            ]
        )
    return [
        (name, *(cell for column in columns for cell in column[level]))
        for level, name in enumerate(PROFILE_LEVELS)
    ]


# ------------------------------------------------------------------ main
def _describe(hparams):
    return (
        f"{hparams['num_stacks']} stacks x {hparams['layers_per_stack']} layers, "
        f"{hparams['residual_channels']} residual / {hparams['skip_channels']} skip channels, "
        f"softmax head, speaker conditioning, initial weights"
    )


def _with_generation_dtype(model, hparams, dtype):
    """`model`, or a copy of it (same weights) that generates in `dtype`."""
    if dtype == model.generation_dtype:
        return model
    copy = registry.build("wavenet", {**hparams, "generation_dtype": dtype})
    copy.set_weights(model.get_weights())
    return copy


def main(argv):
    del argv
    results.tiny_defaults(
        num_samples=64,
        graph_samples=32,
        naive_samples=16,
        profile_samples=64,
        repeats=1,
        batch_sizes=["1", "2"],
    )
    if FLAGS.tiny:  # The test size (1 stack x 3 layers, 8 / 16 channels) without mel inputs.
        hparams = {key: goldens.TINY_WAVENET[key] for key in PAPER_SIZE}
    else:
        hparams = PAPER_SIZE
    tf.keras.utils.set_random_seed(0)
    model = registry.build("wavenet", hparams)  # float32 generation
    models = {dtype: _with_generation_dtype(model, hparams, dtype) for dtype in FLAGS.dtypes}
    machine = limits.measure(tiny=FLAGS.tiny)
    machine_text = "\n\n" + limits.limits_table(machine)
    macs = multiply_adds_per_sample(model)
    flops_per_sample = 2 * sum(macs.values())

    rows = speed_rows(model, models, machine, flops_per_sample)
    text = (
        f"WaveNet generation, {_describe(hparams)}; {results.machine()}, 1-minute load "
        f"average {os.getloadavg()[0]:.1f} at the start (other jobs share the cores); median of "
        f"{FLAGS.repeats} calls after one warm-up call. samples/s are aggregate over the "
        f"batch (batch x samples per sequence / seconds); real-time factor = generated "
        f"seconds of 16 kHz audio per wall-clock second. XLA rows generate "
        f"{FLAGS.num_samples} samples per sequence, plain-graph rows {FLAGS.graph_samples} "
        f"(their cost per sample does not depend on the length); naive generation re-runs "
        f"the whole stack on the growing waveform, timed on {FLAGS.naive_samples} samples. "
        f"GFLOP/s counts {flops_per_sample / 1e6:.3f} MFLOP per sample (see the profile "
        f"below), set against this machine's fp32 batch-1 vector-matrix limit (matvec) at "
        f"batch 1 and its matrix-product limit of the row's dtype (matmul) at larger "
        f"batches.\n\n"
    )
    text += results.markdown_table(
        (
            "method",
            "batch",
            "dtype",
            "samples",
            "s/call",
            "samples/s",
            "x real time",
            "vs naive",
            "GFLOP/s (of limit)",
        ),
        rows,
    )
    results.write_block("wavenet", text + machine_text)  # A --tiny run only prints it.

    batch_sizes = [int(size) for size in FLAGS.batch_sizes]
    profile = profile_rows(model, FLAGS.profile_samples, batch_sizes)
    rate = FLAGS.num_samples / _seconds(
        lambda: model.sample(FLAGS.num_samples, speaker=[0], seed=1)
    )
    flops = rate * flops_per_sample
    text = (
        f"Where the time of a fast XLA generation step goes (float32, {_describe(hparams)}), "
        f"{FLAGS.profile_samples} steps per call, median of {FLAGS.repeats} after a warm-up. "
        f"Each row is an XLA `tf.while_loop` doing cumulatively more of the step; the part's "
        f"cost is the difference from the row above (noisy at the 1 us level on a shared "
        f"CPU); a step generates one sample per sequence of the batch. Multiply-adds per "
        f"sample: "
        + ", ".join(f"{name} {count:,}" for name, count in macs.items())
        + f" ({flops_per_sample / 1e6:.3f} MFLOP; the softmax head's one-hot input "
        f"convolution is a gather of kernel rows and the speaker projections are computed "
        f"once per call, so neither is counted). At batch 1 `model.sample` ran at "
        f"{rate:,.0f} samples/s ({rate / audio.SAMPLE_RATE:.2f}x real time) in this run: "
        f"{flops / 1e9:.1f} GFLOP/s, {flops / machine['fp32_matvec']:.0%} of the fp32 "
        f"batch-1 vector-matrix limit.\n\n"
    )
    header = ["loop does"]
    for batch_size in batch_sizes:
        header += [f"batch {batch_size}: us/step", "part", "share"]
    text += results.markdown_table(header, profile)
    results.write_block("wavenet_profile", text + machine_text)


if __name__ == "__main__":
    app.run(main)
