"""Parallel WaveNet student speed as a fraction of this machine's matmul peak, fp32 and bf16.

The student (arXiv 1711.10433; the registry defaults: flows of 10, 10, 10, 30 layers, 64
residual / 128 skip channels, speaker conditioning) generates 1 s of 16 kHz audio in one
parallel pass of its `generate` signature. Side by side in one run, beside this machine's
limits measured in the same run (`bench.limits`):

1. the FLOPs per sample, counted exactly from the layer shapes (2 x every kernel weight a
   time step multiplies: the taps of each dilated and input convolution, the residual and
   skip 1x1s, the output head; biases, gates and the per-example speaker projections are
   not counted), checked against the dots and convolutions of the XLA HLO of the compiled
   pass;
2. `generate` at batch 1 and `--batch`, with float32 and with mixed_bfloat16 flows (Keras
   mixed precision, `flow_dtype`), in graph mode and XLA-compiled: samples/s, real-time
   factor, GFLOP/s and the fraction of the same run's fp32 or bf16 matmul peak;
3. the KL(P_S || P_T) estimate of the float32 and the bfloat16 student (same weights, same
   noise) against an untrained teacher on the same length of audio;
4. where the time goes, for the fastest fp32 and bf16 modes: passes doing cumulatively more
   of every flow (composition only, + dilated convolutions, + conditioning and gate, +
   residual and skip 1x1s, + output head = the student's pass); a part's cost is the
   difference from the row above.

The flows' last layers, zero at initialisation (the student starts as `0.05 z`), get small
random weights, so that every flow's location and scale depend on the past.

    python -m bench.parallel_wavenet [--num_samples 16000] [--batch 4] [--repeats 3]
    python -m bench.parallel_wavenet --tiny   # seconds: a tiny student, writes nothing
"""

import re

import numpy as np
import tensorflow as tf
from absl import app, flags

from bench import limits, results
from tfgen import noise, registry
from tfgen.data import audio
from tfgen.distributions import distillation

FLAGS = flags.FLAGS
flags.DEFINE_integer("num_samples", audio.SAMPLE_RATE, "Samples per `generate` call.")
flags.DEFINE_integer("batch", 4, "The larger batch size timed beside batch 1.")
flags.DEFINE_integer("repeats", 3, "Timed calls per row (median, after one warm-up call).")

DTYPES = {"float32": "fp32", "mixed_bfloat16": "bf16"}
# The teacher only enters the KL row; the bench's is the registry's default size, untrained.
TINY = {"flow_layers": [1, 2], "residual_channels": 8, "skip_channels": 8}
TINY_TEACHER = {
    "num_stacks": 1,
    "layers_per_stack": 2,
    "residual_channels": 8,
    "skip_channels": 8,
    "num_components": 2,
}
LAST_LAYER_STDDEV = 0.01


# ------------------------------------------------------------------ FLOPs
def _kernel_layers(stack):
    """The layers of a `WaveNetStack` that multiply a kernel at every time step, by part."""
    blocks = stack.blocks
    return {
        "input": [stack.input_conv],
        "dilated": [block.dilated_conv for block in blocks],
        "conditioning": [block.local_projection for block in blocks if block.local_projection],
        "1x1": [block.skip_projection for block in blocks]
        + [block.residual_projection for block in blocks if block.residual_projection],
        "head": [stack.output_hidden, stack.output_projection],
    }


def flops_per_sample(flow, parts=None):
    """2 x the kernel weights a time step multiplies, over the flows' `WaveNetStack`s.

    Args:
      flow: a built `InverseAutoregressiveFlow`.
      parts: None for all, or a collection of the parts of `_kernel_layers` to count.
    """
    return 2 * sum(
        int(np.prod(layer.kernel.shape))
        for stack in flow.flows
        for part, layers in _kernel_layers(stack).items()
        if parts is None or part in parts
        for layer in layers
    )


def speaker_flops_per_example(flow):
    """2 x the weights of the per-example speaker projections (`V^T h`, once per clip)."""
    return 2 * sum(
        int(np.prod(block.global_projection.kernel.shape))
        for stack in flow.flows
        for block in stack.blocks
        if block.global_projection
    )


_SHAPE = re.compile(r"\b(?:f16|bf16|f32|f64)\[([0-9,]*)\]")


def _dims(text):
    return [int(d) for d in text.split(",") if d]


def hlo_flops(hlo):
    """2 x the multiply-adds of every `dot` and `convolution` in an HLO module's text."""
    total = 0
    for line in hlo.splitlines():
        shapes = [_dims(s) for s in _SHAPE.findall(line)]
        if " dot(" in line:
            contracting = re.search(r"lhs_contracting_dims=\{([0-9,]*)\}", line).group(1)
            depth = np.prod([shapes[1][d] for d in _dims(contracting)])
            total += 2 * int(np.prod(shapes[0])) * int(depth)
        elif " convolution(" in line:
            kernel_labels = re.search(r"dim_labels=\w+_(\w+)->", line).group(1)
            kernel = shapes[2]
            depth = np.prod(kernel) // kernel[kernel_labels.index("o")]
            total += 2 * int(np.prod(shapes[0])) * int(depth)
    return total


def compiled_flops_per_sample(model, num_samples):
    """FLOPs per sample of the XLA-compiled student pass (batch 1), from its optimised HLO."""
    z = tf.zeros([1, num_samples])
    speaker = tf.zeros([1], tf.int32)
    student = tf.function(lambda z: model.student(z, speaker)[0], jit_compile=True)
    return hlo_flops(student.experimental_get_compiler_ir(z)(stage="optimized_hlo")) / num_samples


# ------------------------------------------------------------------ models
def build_students(tiny):
    """{dtype policy: student}, the same weights, last layers randomised (see the docstring)."""
    hparams = {**TINY, "teacher": TINY_TEACHER} if tiny else {}
    students = {}
    for dtype in DTYPES:
        tf.keras.utils.set_random_seed(0)
        students[dtype] = registry.build("parallel_wavenet", {**hparams, "flow_dtype": dtype})
    reference = students["float32"]
    for index, stack in enumerate(reference.flow.flows):
        kernel = stack.output_projection.kernel
        kernel.assign(LAST_LAYER_STDDEV * tf.random.stateless_normal(kernel.shape, [index, 7]))
    for student in students.values():
        student.set_weights(reference.get_weights())
    return students


def kl_per_sample(model, num_samples, seed=11):
    """KL(P_S || P_T) per sample (nats) of one clip: speaker 0, the given seed's noise."""
    features = {
        "audio": tf.fill([1, num_samples], audio.MU // 2),
        "speaker": tf.zeros([1], tf.int32),
    }
    terms = tf.function(model.distillation_terms, autograph=False)(
        features, tf.constant(seed, tf.int64)
    )
    return float(terms["kl"][0]) / num_samples


# ------------------------------------------------------------------ timing
def time_generate(model, jit_compile, batch, num_samples, repeats):
    """Median seconds per call of `generate` (batch `batch`, speaker 0)."""
    generate = model.signatures(jit_compile=jit_compile)["generate"]
    args = dict(
        num_samples=tf.constant(num_samples),
        speaker=tf.zeros([batch], tf.int32),
        temperature=tf.constant(1.0),
        seed=tf.constant(1, tf.int64),
    )
    return float(np.median(results.time_calls(lambda: generate(**args)["audio"].numpy(), repeats)))


PROFILE_LEVELS = (
    "flow composition only",
    "+ dilated convolutions (and the input conv)",
    "+ conditioning, gate",
    "+ residual and skip 1x1s",
    "+ output head (= the student's pass)",
)
PROFILE_PARTS = ((), ("input", "dilated"), ("conditioning",), ("1x1",), ("head",))


def _partial_flow(stack, x, h, level):
    """A flow's (location, log-scale) [B, T, 2] from the first `level` parts of its pass."""
    if level == len(PROFILE_LEVELS) - 1:
        return stack(x, global_condition=h)
    if level == 0:
        return tf.zeros_like(tf.concat([x, x], -1))
    x = stack.input_conv(tf.pad(x[:, :-1], [[0, 0], [1, 0], [0, 0]]))
    skips = []
    for block in stack.blocks:
        if level == 3:
            x, skip = block(x, global_condition=h)
            skips.append(skip)
            continue
        pre = block.dilated_conv(x)
        if level == 1:
            x = pre[..., : stack.residual_channels]
            continue
        x = block.gate(pre + block.global_projection(h)[:, None, :])
    return (tf.add_n(skips) if skips else x)[..., :2]


def profile_pass(model, level):
    """The student's pass over noise z [B, T], doing the first `level + 1` parts of each flow.

    Every level feeds each flow's result into the next flow, as the student does.
    """

    def run(z, speaker):
        h = tf.one_hot(speaker, model.num_speakers)
        x = z
        for stack in model.flow.flows:
            params = 1e-3 * tf.cast(_partial_flow(stack, x[..., None], h, level), tf.float32)
            x = x * tf.exp(params[..., 1]) + params[..., 0]
        return x

    return run


def profile_rows(model, jit_compile, num_samples, repeats):
    """(pass does, ms per call, part, share, part's GFLOP/s) rows at batch 1."""
    z = distillation.logistic_noise(noise.uniform_from_seed([1, num_samples], 3))
    speaker = tf.zeros([1], tf.int32)
    seconds = []
    for level in range(len(PROFILE_LEVELS)):
        run = tf.function(profile_pass(model, level), jit_compile=jit_compile, autograph=False)
        calls = results.time_calls(lambda run=run: run(z, speaker).numpy(), repeats)
        seconds.append(float(np.median(calls)))
    rows, previous = [], 0.0
    for name, parts, total in zip(PROFILE_LEVELS, PROFILE_PARTS, seconds):
        part = total - previous
        flops = flops_per_sample(model.flow, parts) * num_samples
        rate = f"{flops / part / 1e9:.1f}" if flops and part > 0 else "-"
        rows.append(
            (name, f"{1e3 * total:.1f}", f"{1e3 * part:+.1f}", f"{part / seconds[-1]:.0%}", rate)
        )
        previous = total
    return rows


# ------------------------------------------------------------------ main
def main(argv):
    del argv
    results.tiny_defaults(num_samples=256, batch=2, repeats=1)
    num_samples, repeats = FLAGS.num_samples, FLAGS.repeats
    machine = limits.measure(tiny=FLAGS.tiny)
    peaks = {"fp32": machine["fp32_matmul"], "bf16": machine["bf16_matmul"]}
    students = build_students(FLAGS.tiny)
    reference = students["float32"]
    flops = flops_per_sample(reference.flow)
    compiled = compiled_flops_per_sample(reference, num_samples)
    speaker = speaker_flops_per_example(reference.flow) / num_samples

    rows, rates = [], {}
    for dtype, student in students.items():
        for jit_compile in (False, True):
            for batch in (1, FLAGS.batch):
                seconds = time_generate(student, jit_compile, batch, num_samples, repeats)
                rate = batch * num_samples / seconds
                achieved = rate * flops
                mode = "XLA" if jit_compile else "graph"
                rates[DTYPES[dtype], mode, batch] = achieved
                rows.append(
                    (
                        DTYPES[dtype],
                        mode,
                        batch,
                        f"{seconds:.3f}",
                        f"{rate:,.0f}",
                        f"{rate / audio.SAMPLE_RATE:.2f}",
                        f"{achieved / 1e9:.1f}",
                        f"{achieved / peaks[DTYPES[dtype]]:.0%}",
                    )
                )
    kls = {
        DTYPES[dtype]: kl_per_sample(student, num_samples) for dtype, student in students.items()
    }
    best = {
        precision: max((r, mode) for (p, mode, b), r in rates.items() if p == precision and b == 1)
        for precision in ("fp32", "bf16")
    }
    profiles = {
        precision: profile_rows(students[dtype], best[precision][1] == "XLA", num_samples, repeats)
        for dtype, precision in DTYPES.items()
    }

    layers = ", ".join(str(n) for n in reference.flow.flow_layers)
    channels = f"{reference.flow.residual_channels} / {reference.flow.skip_channels}"
    seconds = num_samples / audio.SAMPLE_RATE
    text = (
        f"The Parallel WaveNet student (flows of {layers} layers, {channels} residual / skip "
        f"channels, speaker conditioning) generating {seconds:g} s of 16 kHz audio "
        f"({num_samples} samples) in one pass of its `generate` signature; "
        f"{results.machine()}; median of {repeats} call(s) after a warm-up.\n\n"
        f"FLOPs per sample, counted exactly from the layer shapes (2 x every kernel weight a "
        f"time step multiplies: dilated and input convolution taps, residual/skip 1x1s, "
        f"output head; not biases, gates, or the speaker projections, once per clip), and "
        f"checked against the dots and convolutions in the XLA HLO of the compiled pass "
        f"(batch 1, {num_samples} samples), which also holds the speaker projections and "
        f"the few outputs past the end that XLA's space-to-batch form of a dilated "
        f"convolution computes:\n\n"
    )
    text += results.markdown_table(
        ("FLOPs per sample", "count"),
        [
            ("from the layer shapes", f"{flops:,}"),
            ("XLA HLO of the compiled pass", f"{compiled:,.1f}"),
            ("of which speaker projections", f"{speaker:,.1f}"),
            ("of which dilated-convolution padding", f"{compiled - flops - speaker:,.1f}"),
        ],
    )
    text += (
        f"\n\n{flops * audio.SAMPLE_RATE / 1e9:.1f} GFLOP per second of audio. GFLOP/s = "
        f"samples/s x FLOPs per sample; the fraction is of this run's matrix product peak in "
        f"the same precision (fp32 for float32 flows; bf16 for mixed_bfloat16 flows: bf16 "
        f"products, float32 weights, noise, flow composition and losses).\n\n"
    )
    text += results.markdown_table(
        (
            "flows",
            "mode",
            "batch",
            "s/call",
            "samples/s",
            "x real time",
            "GFLOP/s",
            "of peak",
        ),
        rows,
    )
    text += (
        f"\n\nKL(P_S || P_T) per sample of the two students (same weights, last layers "
        f"N(0, {LAST_LAYER_STDDEV}^2), same noise, speaker 0) against the untrained "
        f"registry-default teacher on {num_samples} samples:\n\n"
    )
    text += results.markdown_table(
        ("student", "KL / sample (nats)", "vs fp32"),
        [
            ("fp32 flows", f"{kls['fp32']:.5f}", "-"),
            ("bf16 flows", f"{kls['bf16']:.5f}", f"{kls['bf16'] / kls['fp32'] - 1:+.2%}"),
        ],
    )
    for precision, profile in profiles.items():
        text += (
            f"\n\nWhere the time goes, {precision} flows, {best[precision][1]}, batch 1: "
            f"passes doing cumulatively more of every flow; a part's cost is the difference "
            f"from the row above (noisy at the millisecond level on a shared CPU), its "
            f"GFLOP/s its FLOPs over that difference.\n\n"
        )
        text += results.markdown_table(
            ("pass does", "ms / call", "part", "share", "part GFLOP/s"), profile
        )
    text += "\n\n" + limits.limits_table(machine)
    results.write_block("parallel_wavenet_speed", text)


if __name__ == "__main__":
    app.run(main)
