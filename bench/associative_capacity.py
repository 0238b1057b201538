"""Associative LSTM memory: retrieval error against the number of redundant copies.

The memory of `AssociativeLSTMCell` (arXiv 1602.03032, Secs. 2.2-3) with its
gates open (`g_f = g_i = 1`): K items, random unit-modulus complex vectors of
`--units` entries, are written under random unit-modulus keys into S permuted
copies (`redundant_write`), then each is read back with the conjugate of its
key (`redundant_read`, before `bound`). The table gives the mean squared error
per complex entry of the read-out, over `--trials` independent memories, beside
the prediction of the noise analysis: each of the K - 1 other items adds
unit-variance interference to one copy, the copies' noise terms are
uncorrelated except where two permutations agree (1/n of the entries), so the
mean over S copies has variance `(K - 1) / S * (1 + (S - 1) / n)`. The copies
cost no parameters: only the state grows, `S * 2n` floats. Draws the curves
to docs/associative_lstm_capacity.png and writes the table into
docs/RESULTS.md (block `associative_capacity`) unless `--nowrite`.

    python -m bench.associative_capacity [--units 128] [--items 4,16,64] [--nowrite]
    python -m bench.associative_capacity --tiny   # 16 units, 2 trials: a smoke run
"""

import os
import time

import numpy as np
import tensorflow as tf
from absl import app, flags

from bench import results
from tfgen.layers.associative_lstm import random_permutations, redundant_read, redundant_write

FLAGS = flags.FLAGS
flags.DEFINE_integer("units", 128, "Complex entries n of the keys, values and traces.")
flags.DEFINE_list("items", ["4", "16", "64"], "Numbers K of stored items.")
flags.DEFINE_list("copies", ["1", "2", "4", "8", "16", "32"], "Numbers S of copies.")
flags.DEFINE_integer("trials", 64, "Independent memories (keys, values, permutations) per cell.")
flags.DEFINE_integer("seed", 0, "Seed of the keys, values and permutations.")
flags.DEFINE_string(
    "plot",
    os.path.join(results.DOCS, "associative_lstm_capacity.png"),
    "Where to write the picture.",
)


def _unit_modulus(rng, shape):
    """Random unit-modulus complex vectors in the `[Re, Im]` layout, float32 [..., 2n]."""
    phase = 2 * np.pi * rng.random(shape)
    return tf.constant(np.concatenate([np.cos(phase), np.sin(phase)], -1), tf.float32)


def _conjugate(z):
    re, im = tf.split(z, 2, axis=-1)
    return tf.concat([re, -im], axis=-1)


def retrieval_error(items, copies, units, trials, seed):
    """Mean |read - value|^2 per complex entry after writing `items` pairs into `copies`."""
    rng = np.random.default_rng([seed, items, copies])
    keys = _unit_modulus(rng, (items, trials, units))
    values = _unit_modulus(rng, (items, trials, units))
    permutations = random_permutations(copies, units, rng.integers(2**31))
    cells = tf.zeros([trials, copies, 2 * units])
    forget = tf.ones([trials, units])
    for k in range(items):
        cells = redundant_write(cells, forget, keys[k], values[k], permutations)
    reads = redundant_read(cells, _conjugate(keys), permutations)  # all K items at once
    re, im = tf.split(reads - values, 2, axis=-1)
    return float(tf.reduce_mean(tf.square(re) + tf.square(im)))


def predicted_error(items, copies, units):
    return (items - 1) / copies * (1 + (copies - 1) / units)


def _write_plot(path, copies, errors):
    plt = results.pyplot()

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for items, measured in errors.items():
        (line,) = ax.plot(copies, measured, "o-", label=f"K = {items} items")
        predicted = [predicted_error(items, s, FLAGS.units) for s in copies]
        ax.plot(copies, predicted, "--", color=line.get_color(), alpha=0.6)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("copies S")
    ax.set_ylabel("retrieval MSE per complex entry")
    ax.set_title(
        f"Associative LSTM memory, n = {FLAGS.units} (dashed: (K-1)/S (1+(S-1)/n))", fontsize=9
    )
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    results.save_figure(fig, path)


def main(argv):
    del argv
    results.tiny_defaults(units=16, items=["2", "4"], copies=["1", "2", "4"], trials=2)
    wall = time.perf_counter()
    items_list, copies = [int(k) for k in FLAGS.items], [int(s) for s in FLAGS.copies]
    errors = {
        k: [retrieval_error(k, s, FLAGS.units, FLAGS.trials, FLAGS.seed) for s in copies]
        for k in items_list
    }
    rows = [
        (
            s,
            f"{s * 2 * FLAGS.units:,}",
            *(f"{errors[k][i]:.3f} / {predicted_error(k, s, FLAGS.units):.3f}" for k in items_list),
        )
        for i, s in enumerate(copies)
    ]
    plot = results.output_path(FLAGS.plot)
    _write_plot(plot, copies, errors)
    kind = "`--tiny` smoke run, measures nothing" if FLAGS.tiny else "Holographic memory"
    text = (
        f"{kind}: the memory of `AssociativeLSTMCell` with open gates; K random unit-modulus "
        f"items of n = {FLAGS.units} complex entries written under random unit-modulus keys "
        f"into S permuted copies, each read back with its conjugate key (before `bound`); "
        f"mean squared error per complex entry over {FLAGS.trials} memories, measured / "
        f"predicted (K-1)/S (1+(S-1)/n). The copies add no trainable parameters; the cell "
        f"state grows to S x 2n floats. {results.machine()}.\n\n"
    )
    text += results.markdown_table(
        ("copies S", "cell state (floats)", *(f"K = {k} items" for k in items_list)), rows
    )
    text += (
        f"\n\nPicture: `{results.shown_path(plot)}`. "
        f"Whole script: {time.perf_counter() - wall:.0f} s."
    )
    results.write_block("associative_capacity", text)


if __name__ == "__main__":
    app.run(main)
