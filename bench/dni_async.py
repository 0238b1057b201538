"""Decoupled neural interfaces (arXiv 1608.05343): the speed of asynchronous module updates.

Fully connected networks of `--depths` hidden layers of `--units` (batch
norm, ReLU; `decoupled_mlp`), every layer decoupled by a cDNI with one hidden
layer of `--synthesizer_units`, train on `mnist` batches of `--batch_size`,
side by side in one run, each for `--steps` timed batches after `--warmup`
untimed ones (tracing included there):

- backprop: the same layers as a `tf.keras.Sequential`, `fit`;
- DNI in lock step: `DecoupledSequential.fit`, one graph per batch in which
  every module updates from its own DNI;
- DNI module by module: `AsynchronousTrainer.train(threaded=False)`, the
  same per-module updates one after another in one thread;
- DNI asynchronous: `AsynchronousTrainer`, one thread per module, activations
  passed up and gradients down through queues (Sec. 3.2 of the paper).

The speed-up is module-by-module time over asynchronous time (the same
work). Beside it, this machine's limit for those updates, measured in the
same run from the module-by-module stage times (each uncontended): no
schedule beats the slowest module's time per batch, nor all the modules'
time spread over every core. Test accuracy after the same number of batches shows
what each schedule learns.

Writes the table into docs/RESULTS.md (block `dni_async`) unless `--nowrite`.

    python -m bench.dni_async [--depths 2,4,6] [--steps 600] [--nowrite]
    python -m bench.dni_async --tiny   # one small depth, a few batches: a smoke run
"""

import os
import time

import numpy as np
import tensorflow as tf
from absl import app, flags

from bench import mnist_mlp, results
from tfgen.algorithms.dni import AsynchronousTrainer

FLAGS = flags.FLAGS
flags.DEFINE_list("depths", ["2", "4", "6"], "Numbers of hidden layers (modules: one more).")
flags.DEFINE_integer("units", 256, "Units per hidden layer.")
flags.DEFINE_integer("synthesizer_units", 256, "Hidden units of each cDNI.")
flags.DEFINE_integer("batch_size", 64, "Digits per batch.")
flags.DEFINE_integer("steps", 600, "Timed batches per schedule.")
flags.DEFINE_integer("warmup", 50, "Untimed batches first (tracing).")
flags.DEFINE_float("learning_rate", 3e-4, "Adam learning rate.")
flags.DEFINE_integer("seed", 0, "Seed of the weights and the batch order.")

SCHEDULES = ("backprop", "DNI, lock step", "DNI, module by module", "DNI, asynchronous")
THREADED = {"DNI, module by module": False, "DNI, asynchronous": True}


def _dataset(train):
    dataset = tf.data.Dataset.from_tensor_slices(train).shuffle(len(train[1]), seed=FLAGS.seed)
    return dataset.repeat().batch(FLAGS.batch_size, drop_remainder=True)


def _run(depth, schedule, train, test):
    """Trains one schedule; returns (ms per timed batch, busy seconds per module, accuracy)."""
    options = dict(synthesizer_hidden_units=(FLAGS.synthesizer_units,), conditional=True)
    model = mnist_mlp.network(
        (FLAGS.units,) * depth,
        FLAGS.learning_rate,
        FLAGS.seed,
        None if schedule == "backprop" else options,
    )
    dataset = _dataset(train)
    if schedule in THREADED:
        model.build((None, 28, 28, 1))
        trainer, batches = AsynchronousTrainer(model), dataset.as_numpy_iterator()
        trainer.train(batches, FLAGS.warmup, THREADED[schedule])
        start = time.perf_counter()
        busy = trainer.train(batches, FLAGS.steps, THREADED[schedule])["busy_seconds"]
    else:
        model.fit(dataset, steps_per_epoch=FLAGS.warmup, epochs=1, verbose=0)
        start = time.perf_counter()
        model.fit(dataset, steps_per_epoch=FLAGS.steps, epochs=1, verbose=0)
        busy = None
    seconds = time.perf_counter() - start
    accuracy = model.evaluate(*test, batch_size=500, verbose=0, return_dict=True)["accuracy"]
    return 1e3 * seconds / FLAGS.steps, busy, accuracy


def _rows(train, test):
    rows = []
    for depth in (int(d) for d in FLAGS.depths):
        ms, busy = {}, {}
        for schedule in SCHEDULES:
            ms[schedule], busy[schedule], accuracy = _run(depth, schedule, train, test)
            speedup = limit = "-"
            if schedule == "DNI, asynchronous":
                speedup = f"{ms['DNI, module by module'] / ms[schedule]:.2f}x"
                # Stage times measured alone (module by module): the slowest stage, or all
                # the work spread over every core, bounds any schedule of the same updates.
                stages = 1e3 * np.array(busy["DNI, module by module"]) / FLAGS.steps
                limit = f"{max(stages.max(), stages.sum() / os.cpu_count()):.2f}"
            rows.append(
                (
                    depth + 1,
                    schedule,
                    f"{ms[schedule]:.2f}",
                    speedup,
                    limit,
                    f"{100 * accuracy:.1f}%",
                )
            )
    return rows


def main(argv):
    del argv
    results.tiny_defaults(depths=["1"], units=16, synthesizer_units=8, steps=6, warmup=2)
    wall = time.perf_counter()
    train, test = mnist_mlp.mnist("train"), mnist_mlp.mnist("test")
    rows = _rows(train, test)
    kind = "`--tiny` smoke run, measures nothing" if FLAGS.tiny else "Asynchronous DNI updates"
    text = (
        f"{kind} (arXiv 1608.05343 Sec. 3.2): networks of hidden layers of {FLAGS.units} "
        f"(batch norm, ReLU), each layer one module decoupled by a cDNI with a hidden layer "
        f"of {FLAGS.synthesizer_units}; mnist, batch {FLAGS.batch_size}, Adam "
        f"{FLAGS.learning_rate}, {FLAGS.steps} timed batches after {FLAGS.warmup} untimed. "
        f"Speed-up: module-by-module time over asynchronous time (the same updates). Limit: "
        f"this machine's bound for them, from the module-by-module stage times of the same "
        f"run: the slowest module's time per batch or all modules' time over "
        f"{os.cpu_count()} cores, whichever is larger. Accuracy: test digits after the same "
        f"batches. {results.machine()}.\n\n"
    )
    text += results.markdown_table(
        ("modules", "schedule", "ms / batch", "speed-up", "limit ms / batch", "test accuracy"),
        rows,
    )
    text += f"\n\nWhole script: {time.perf_counter() - wall:.0f} s."
    results.write_block("dni_async", text)


if __name__ == "__main__":
    app.run(main)
