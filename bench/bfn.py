"""Bayesian Flow Network sampling: time per step in each way of running the loop, side by side.

Each model's exported `sample` signature (the n-step `tf.while_loop` of
`tfgen.distributions.bfn`) runs in the three `tfgen.models.bfn.JIT_COMPILE_MODES`:
a plain graph loop, the whole loop XLA-compiled, and a graph loop whose network
step Psi(theta, t) is XLA-compiled. The same model, seed and batch in one run;
the samples of the three are compared. The weights are random (the time per
step does not depend on them). The samples of the three modes differ only where float
rounding (XLA against TensorFlow's kernels) moves a draw across a class boundary, after
which the trajectories part.

Beside the table: the FLOPs of one network step (its matrix products and
convolutions, counted from the traced graph) and the FLOP/s the fastest mode
reaches, as a share of this machine's fp32 matmul limit (`bench.limits`,
measured in the same run); and a profile of one step, the network alone against
the rest of the step (Bayesian update, noise, sampling), in graph mode and XLA.

    python -m bench.bfn [--models bfn_discrete,bfn_discrete_text] [--steps 10,25,100]
                        [--batch_size 16] [--repeats 5] [--tiny] [--nowrite]

`--tiny` uses the models' small test hyper-parameters and datasets, steps 2
and 4, batch 2, one timed call (a quick check that the script runs, printed
only); otherwise the text goes into docs/RESULTS.md (block `bfn_sampling`)
unless `--nowrite`.
"""

import re

import numpy as np
import tensorflow as tf
from absl import app, flags

from bench import limits, results
from tests.conformance import goldens
from tfgen import registry
from tfgen.models.bfn import JIT_COMPILE_MODES

FLAGS = flags.FLAGS
flags.DEFINE_list(
    "models",
    ["bfn_continuous", "bfn_discretised", "bfn_discrete", "bfn_discrete_text"],
    "Registered BFN models to time.",
)
flags.DEFINE_list("steps", ["10", "25", "100"], "Numbers of sampling steps n.")
flags.DEFINE_integer("batch_size", 16, "Samples per call.")
flags.DEFINE_integer("repeats", 5, "Timed calls per configuration (the best is reported).")

MODE_NAMES = {False: "graph", True: "XLA loop", "network": "XLA network"}


def _build(name):
    model = goldens.build(name) if FLAGS.tiny else registry.build(name)
    model.build_example()
    for weight in model.trainable_weights:  # Random, not the zero output layer of a new model.
        weight.assign(tf.random.stateless_normal(weight.shape, [1, 2]) * 0.05)
    return model


def _best_seconds(fns, repeats):
    """{key: best of `repeats` seconds} of no-argument `fns`, timed in turn after a warm-up."""
    for fn in fns.values():
        fn()
    seconds = {key: [] for key in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            seconds[key].append(results.time_calls(fn, 1, warmup=0)[0])
    return {key: min(values) for key, values in seconds.items()}


def _contraction(op):
    """The summed-over size of a matrix product or convolution `op` (None for other ops)."""
    shapes = [tensor.shape for tensor in op.inputs]
    if op.type == "MatMul":
        return shapes[0][-2 if op.get_attr("transpose_a") else -1]
    if op.type in ("BatchMatMulV2", "BatchMatMulV3"):
        return shapes[0][-2 if op.get_attr("adj_x") else -1]
    if op.type == "Conv2D":
        return int(np.prod(shapes[1][:3]))  # kh * kw * input channels
    if op.type == "Einsum":
        inputs, output = op.get_attr("equation").decode().split("->")
        sizes = {}
        for letters, shape in zip(inputs.split(","), shapes):
            sizes.update(zip(re.sub("[^a-z]", "", letters), shape))
        return int(np.prod([sizes[c] for c in set(sizes) - set(output)]))
    return None


def network_flops(model, batch_size):
    """FLOPs of one call of the model's network Psi(theta, t): 2 per multiply-add.

    Counts the matrix products and convolutions of the traced graph (MatMul,
    BatchMatMul, Conv2D, Einsum: 2 x output size x contracted size), the work a
    matmul limit measures; the elementwise work is left out.
    """
    theta = model.flow.prior(tf.constant([batch_size, *model.event_shape]))[0]
    graph = (
        tf.function(model._network)
        .get_concrete_function(tf.TensorSpec(theta.shape), tf.TensorSpec([batch_size]))
        .graph
    )
    total = 0
    for op in graph.get_operations():
        contraction = _contraction(op)
        if contraction is not None:
            total += 2 * _output_size(op) * contraction
    return total


def _output_size(op):
    """Output elements of `op`; of a dilated convolution, those before space-to-batch padding."""
    size = int(np.prod(op.outputs[0].shape))
    source = op.inputs[0].op
    if op.type == "Conv2D" and source.type == "SpaceToBatchND":
        size = int(np.prod(source.inputs[0].shape[:-1])) * op.outputs[0].shape[-1]
    return size


def _network_loop(model, batch_size, steps, jit_compile):
    """A call running the network `steps` times in a `tf.while_loop`, as the sampler does."""
    theta = model.flow.prior(tf.constant([batch_size, *model.event_shape]))[0]
    t = tf.fill([batch_size], 0.5)

    def loop():
        body = lambda i, x: (i + 1, x + 1e-6 * tf.reduce_mean(model._network(x, t)))  # noqa: E731
        return tf.while_loop(lambda i, x: i < steps, body, (0, theta))[1]

    fn = tf.function(loop, jit_compile=jit_compile, autograph=False)
    return lambda: fn().numpy()


def _sampler(model, jit_compile):
    signature = model.signatures(jit_compile=jit_compile)["sample"]
    return lambda n, steps: signature(
        num_samples=tf.constant(n), steps=tf.constant(steps), seed=tf.constant(1, tf.int64)
    )[model.feature_key].numpy()


def _percent(flops_per_second, limit):
    return f"{flops_per_second / 1e9:.1f} ({100 * flops_per_second / limit:.0f}%)"


def main(argv):
    del argv
    results.tiny_defaults(steps=["2", "4"], batch_size=2, repeats=1)
    machine = limits.measure(tiny=FLAGS.tiny)
    limit = machine["fp32_matmul"]
    batch, rows, profile = FLAGS.batch_size, [], []
    for name in FLAGS.models:
        model = _build(name)
        flops = network_flops(model, batch)
        samplers = {mode: _sampler(model, mode) for mode in JIT_COMPILE_MODES}
        for steps in map(int, FLAGS.steps):
            calls = {mode: (lambda fn=fn, s=steps: fn(batch, s)) for mode, fn in samplers.items()}
            samples = {mode: call() for mode, call in calls.items()}
            seconds = _best_seconds(calls, FLAGS.repeats)
            fastest = min(seconds, key=seconds.get)
            same = min(np.mean(samples[False] == s) for s in samples.values())
            rows.append(
                (
                    name,
                    "x".join(map(str, model.event_shape)),
                    steps,
                    *(f"{1e3 * seconds[mode] / steps:.1f}" for mode in JIT_COMPILE_MODES),
                    MODE_NAMES[fastest],
                    f"{seconds[False] / seconds[fastest]:.2f}x",
                    f"{100 * same:.2f}%",
                    f"{flops / 1e6:.4f}",
                    _percent(flops * steps / seconds[fastest], limit),
                )
            )
        steps = int(FLAGS.steps[-1])
        network = _best_seconds(
            {jit: _network_loop(model, batch, steps, jit) for jit in (False, True)}, FLAGS.repeats
        )
        profile.append(
            (
                name,
                *(f"{1e3 * network[jit] / steps:.1f}" for jit in (False, True)),
                *(f"{1e3 * (seconds[jit] - network[jit]) / steps:.1f}" for jit in (False, True)),
                *(_percent(flops * steps / network[jit], limit) for jit in (False, True)),
            )
        )
    text = (
        f"BFN sampling, batch {batch}, "
        f"{'test' if FLAGS.tiny else 'default'} hyper-parameters, random weights; "
        f"{results.machine()}; best of {FLAGS.repeats} timed calls after a warm-up call, the "
        f"three modes in turn. Network MFLOP: the matrix products and convolutions of one step "
        f"(2 per multiply-add); GFLOP/s: those of the fastest mode, with the share of the "
        f"fp32 matmul limit below. Samples as graph mode's: the share of sampled values "
        f"equal to graph mode's (the lower of the two XLA modes); float rounding can move a "
        f"draw across a class boundary, after which the trajectories part.\n\n"
    )
    text += results.markdown_table(
        (
            "model",
            "data shape",
            "steps",
            "graph ms/step",
            "XLA loop ms/step",
            "XLA network ms/step",
            "fastest",
            "speed-up over graph",
            "samples as graph mode's",
            "network MFLOP/step",
            "GFLOP/s (of limit)",
        ),
        rows,
    )
    text += (
        f"\n\nWhere a step's time goes, at {FLAGS.steps[-1]} steps: the network alone (the "
        f"same calls in a loop of their own) and the rest of the step (Bayesian update, "
        f"noise, sampling; the whole step less the network), graph mode against the whole "
        f"loop in XLA; the network's GFLOP/s in each.\n\n"
    )
    text += results.markdown_table(
        (
            "model",
            "network, graph ms",
            "network, XLA ms",
            "rest, graph ms",
            "rest, XLA ms",
            "network GFLOP/s, graph (of limit)",
            "network GFLOP/s, XLA (of limit)",
        ),
        profile,
    )
    text += "\n\n" + limits.limits_table(machine)
    results.write_block("bfn_sampling", text)  # A --tiny run only prints it.


if __name__ == "__main__":
    app.run(main)
