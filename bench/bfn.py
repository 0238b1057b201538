"""Bayesian Flow Network sampling: time per step, XLA-compiled loop against the plain graph loop.

Both run the same exported `sample` signature (the n-step `tf.while_loop` of
`tfgen.distributions.bfn`) of the same model with the same seed, side by side
in one run, and check that they give the same samples. The weights are
untrained: the time per step does not depend on them.

    python -m bench.bfn [--models bfn_discrete,bfn_discrete_text] [--steps 10,25,100]
                        [--batch_size 16] [--repeats 3] [--tiny] [--nowrite]

`--tiny` uses the models' small test hyper-parameters and datasets, steps 2
and 4, batch 2, one timed call (a quick check that the script runs, printed
only); otherwise the table goes into docs/RESULTS.md (block `bfn_sampling`)
unless `--nowrite`.
"""

import numpy as np
import tensorflow as tf
from absl import app, flags

from bench import results
from tests.conformance import goldens
from tfgen import registry

FLAGS = flags.FLAGS
flags.DEFINE_list(
    "models",
    ["bfn_continuous", "bfn_discretised", "bfn_discrete", "bfn_discrete_text"],
    "Registered BFN models to time.",
)
flags.DEFINE_list("steps", ["10", "25", "100"], "Numbers of sampling steps n.")
flags.DEFINE_integer("batch_size", 16, "Samples per call.")
flags.DEFINE_integer("repeats", 3, "Timed calls per configuration.")


def _build(name):
    if not FLAGS.tiny:
        return registry.build(name)
    return goldens.build(name)


def _sampler(model, jit_compile):
    signature = model.signatures(jit_compile=jit_compile)["sample"]
    return lambda n, steps: signature(
        num_samples=tf.constant(n), steps=tf.constant(steps), seed=tf.constant(1, tf.int64)
    )[model.feature_key]


def main(argv):
    del argv
    results.tiny_defaults(steps=["2", "4"], batch_size=2, repeats=1)
    rows = []
    for name in FLAGS.models:
        model = _build(name)
        samplers = {"graph": _sampler(model, False), "XLA": _sampler(model, True)}
        for steps in map(int, FLAGS.steps):
            samples = {mode: fn(FLAGS.batch_size, steps).numpy() for mode, fn in samplers.items()}
            seconds = {
                mode: np.median(
                    results.time_calls(
                        lambda fn=fn, steps=steps: fn(FLAGS.batch_size, steps), FLAGS.repeats
                    )
                )
                for mode, fn in samplers.items()
            }
            same = np.array_equal(samples["graph"], samples["XLA"])
            rows.append(
                (
                    name,
                    "x".join(map(str, model.event_shape)),
                    steps,
                    f"{1e3 * seconds['graph'] / steps:.1f}",
                    f"{1e3 * seconds['XLA'] / steps:.1f}",
                    f"{seconds['graph'] / seconds['XLA']:.2f}x",
                    "yes" if same else "no",
                )
            )
    text = (
        f"BFN sampling, batch {FLAGS.batch_size}, "
        f"{'test' if FLAGS.tiny else 'default'} hyper-parameters, untrained weights; "
        f"{results.machine()}; median of {FLAGS.repeats} calls after one warm-up call.\n\n"
    )
    text += results.markdown_table(
        (
            "model",
            "data shape",
            "steps",
            "graph ms/step",
            "XLA ms/step",
            "XLA speed-up",
            "same samples",
        ),
        rows,
    )
    results.write_block("bfn_sampling", text)  # A --tiny run only prints it.


if __name__ == "__main__":
    app.run(main)
