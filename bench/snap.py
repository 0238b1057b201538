"""SnAp (arXiv 2006.07232): cost per step against BPTT, and online learning of copy.

1. Cost: for a GRU (`SparseRecurrentCell("gru")`) of `--units` sizes at each
   `--sparsities` level, the numbers each method keeps per sequence and the
   measured time per step of one online update, batch `--batch_size`:
   SnAp-1, SnAp-2 and RTRL (`SnAp.step` + `SnAp.gradients`, one `tf.function`)
   against BPTT (forward and backward through a `--length`-step sequence with
   `tf.keras.layers.RNN`, divided by the length), both compiled with XLA. BPTT keeps `T (G + 1) k`
   numbers per sequence (the state and the G gate activations of each step);
   the influence methods keep their influence matrix, independent of T. The
   paper's claims (abstract, Sec. 3): SnAp-1 costs O(p) like BPTT per step;
   RTRL keeps `k p` numbers and costs `k^2 p` (quartic in k for a dense
   network); SnAp-2 equals RTRL's pattern in a dense network and stays sparse
   in a sparse one. A method is left out ("-") where its tables would pass
   `--max_entries`.
2. Copy with a length curriculum (Sec. 5): `tfgen.data` `copy` with one bit per
   step and lengths uniform in 1..L, L starting at 1 and growing by one when
   the mean loss of the last `--patience` batches is under `--threshold` bits
   per bit; every method sees `--batches` batches of
   `--copy_batch_size` sequences: SnAp-1 and SnAp-2 with an update at every
   step, truncated BPTT with one update per step (`truncation=1`, the online
   method of equal cost), and BPTT with one update per sequence. The length L
   reached against the data seen is drawn to docs/snap_copy_curriculum.png.

Writes the tables into docs/RESULTS.md (block `snap`) unless `--nowrite`.

    python -m bench.snap [--units 16,32,64,128] [--batches 1000] [--nowrite]
    python -m bench.snap --tiny   # 8 units, a few batches: a smoke run
"""

import os
import time

import numpy as np
import tensorflow as tf
from absl import app, flags

from bench import results, sequence_tasks
from tfgen.algorithms.snap import OnlineTrainer, SnAp, TruncatedBPTTTrainer, snap_pattern
from tfgen.layers import SparseRecurrentCell

FLAGS = flags.FLAGS
flags.DEFINE_list("units", ["16", "32", "64", "128"], "GRU sizes k of the cost table.")
flags.DEFINE_list("sparsities", ["0.0", "0.75", "0.9"], "Fractions of masked weights.")
flags.DEFINE_integer("batch_size", 8, "Sequences per step in the cost table.")
flags.DEFINE_integer("length", 64, "BPTT sequence length T in the cost table.")
flags.DEFINE_integer("repeats", 20, "Timed calls per measurement.")
flags.DEFINE_float("max_entries", 3e7, "Largest gather table or RTRL product (numbers) tried.")
flags.DEFINE_integer("copy_units", 32, "GRU size on copy.")
flags.DEFINE_float("copy_sparsity", 0.75, "Fraction of masked weights on copy.")
flags.DEFINE_integer("batches", 1000, "Batches per method on copy.")
flags.DEFINE_integer("copy_batch_size", 16, "Sequences per batch on copy.")
flags.DEFINE_float("learning_rate", 1e-2, "Adam learning rate on copy.")
flags.DEFINE_float("threshold", 0.15, "Curriculum: loss (bits per bit) under which L grows.")
flags.DEFINE_integer("patience", 5, "Curriculum: batches averaged at each length.")
flags.DEFINE_integer("seed", 0, "Seed of the weights, masks and data.")
flags.DEFINE_string(
    "plot", os.path.join(results.DOCS, "snap_copy_curriculum.png"), "Where to write the picture."
)

INPUT_DIM = 2  # copy with one bit per step, plus the delimiter channel
METHODS = {"SnAp-1": 1, "SnAp-2": 2, "RTRL": None}


def _cell(units, sparsity):
    tf.keras.utils.set_random_seed(FLAGS.seed)
    cell = SparseRecurrentCell("gru", units, sparsity=sparsity, mask_seed=FLAGS.seed)
    cell.build(tf.TensorShape([None, INPUT_DIM]))
    return cell


def _too_large(cell, n):
    """Whether a method's per-step work, counted in numbers, passes `--max_entries`."""
    states = cell.units
    params = sum(int(np.prod(w.shape)) for w in cell.parameters)
    if n is None:
        return FLAGS.batch_size * states * states * params > FLAGS.max_entries * 30
    pattern = snap_pattern(cell, n)
    degree = 1 + max(int(np.sum(column)) for column in cell.unit_masks()[1].T)
    return n > 1 and states * pattern.sum(1).max() * degree > FLAGS.max_entries


def _online_step_seconds(snap):
    batch = FLAGS.batch_size
    inputs = tf.random.normal([batch, INPUT_DIM])
    delta = tf.random.normal([batch, snap.cell.num_components, snap.cell.units])

    @tf.function(jit_compile=True)
    def update(states, influence):
        states, influence = snap.step(inputs, states, influence)
        return snap.gradients(delta, influence)

    states, influence = snap.initial_state(batch), snap.initial_influence(batch)
    return float(np.median(results.time_calls(lambda: update(states, influence), FLAGS.repeats)))


def _bptt_step_seconds(cell):
    rnn = tf.keras.layers.RNN(cell, return_sequences=True)
    inputs = tf.random.normal([FLAGS.batch_size, FLAGS.length, INPUT_DIM])

    @tf.function(jit_compile=True)
    def update():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.sin(rnn(inputs)))
        return tape.gradient(loss, cell.parameters)

    seconds = results.time_calls(update, max(2, FLAGS.repeats // 4))
    return float(np.median(seconds)) / FLAGS.length


def cost_rows():
    memory, speed = [], []
    for units in [int(k) for k in FLAGS.units]:
        for sparsity in [float(s) for s in FLAGS.sparsities]:
            cell = _cell(units, sparsity)
            kept = int(np.sum(snap_pattern(cell, 1).any(0)))
            bptt_entries = FLAGS.length * (cell.num_gates + 1) * units
            bptt = _bptt_step_seconds(cell)
            entries, seconds = {}, {}
            for name, n in METHODS.items():
                if _too_large(cell, n):
                    continue
                snap = SnAp(cell, INPUT_DIM, n=n)
                entries[name] = snap.influence_entries()
                seconds[name] = _online_step_seconds(snap)
            memory.append(
                (
                    units,
                    f"{sparsity:.2f}",
                    f"{kept:,}",
                    f"{bptt_entries:,} ({bptt_entries / kept:.2g} p)",
                    *(
                        f"{entries[m]:,} ({entries[m] / kept:.3g} p)" if m in entries else "-"
                        for m in METHODS
                    ),
                )
            )
            speed.append(
                (
                    units,
                    f"{sparsity:.2f}",
                    f"{1e3 * bptt:.3f}",
                    *(f"{seconds[m] / bptt:.2f}x" if m in seconds else "-" for m in METHODS),
                )
            )
    return memory, speed


def _trainer(method):
    cell = _cell(FLAGS.copy_units, FLAGS.copy_sparsity)
    tf.keras.utils.set_random_seed(FLAGS.seed)
    readout = tf.keras.layers.Dense(1)
    optimizer = tf.keras.optimizers.Adam(FLAGS.learning_rate)
    if method in METHODS:
        return OnlineTrainer(SnAp(cell, INPUT_DIM, n=METHODS[method]), readout, optimizer)
    truncation = 1 if method == "TBPTT-1" else 10**6
    return TruncatedBPTTTrainer(cell, readout, optimizer, truncation, INPUT_DIM)


def curriculum(method):
    """Runs `--batches` copy batches; returns (data steps seen, L) after each batch, seconds."""
    stream = sequence_tasks.growing_stream("copy", FLAGS.copy_batch_size, FLAGS.seed, num_bits=1)
    return sequence_tasks.length_curriculum(
        _trainer(method), stream, FLAGS.batches, FLAGS.patience, FLAGS.threshold
    )


def _write_plot(path, curves):
    plt = results.pyplot()

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for method, (curve, _) in curves.items():
        ax.step(curve[:, 0] / 1e3, curve[:, 1], where="post", label=method)
    ax.set_xlabel("data time steps seen (thousands)")
    ax.set_ylabel("copy length L reached")
    ax.set_title(
        f"Copy curriculum, GRU k = {FLAGS.copy_units}, sparsity {FLAGS.copy_sparsity:.2f}",
        fontsize=9,
    )
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    results.save_figure(fig, path)


def main(argv):
    del argv
    results.tiny_defaults(
        units=["8"],
        sparsities=["0.0", "0.5"],
        batch_size=2,
        length=8,
        repeats=2,
        copy_units=8,
        batches=6,
        copy_batch_size=4,
        patience=2,
        threshold=1.5,
    )
    wall = time.perf_counter()
    memory, speed = cost_rows()
    curves = {m: curriculum(m) for m in ("SnAp-1", "SnAp-2", "TBPTT-1", "BPTT")}
    plot = results.output_path(FLAGS.plot)
    _write_plot(plot, curves)
    kind = "`--tiny` smoke run, measures nothing" if FLAGS.tiny else "Cost per step"
    text = (
        f"{kind}: a GRU (`SparseRecurrentCell`, input 2) of k units; p = its unmasked "
        f"parameters. Numbers kept per sequence: the influence matrix of SnAp-1, SnAp-2 "
        f"(rows gathered, padded to the longest) and RTRL (dense), against BPTT's "
        f"T (G + 1) k stored activations for T = {FLAGS.length}. Paper (2006.07232): "
        f"SnAp-1 O(p) like BPTT; RTRL k p numbers and k^2 p work per step (quartic in k "
        f"when dense); SnAp-2 as dense as RTRL in a dense network. {results.machine()}.\n\n"
    )
    text += results.markdown_table(
        ("k", "sparsity", "p", "BPTT, T steps", *(f"{m} influence" for m in METHODS)), memory
    )
    text += (
        f"\n\nTime of one online update (step + gradient, batch {FLAGS.batch_size}) against "
        f"BPTT's forward + backward per step, both XLA-compiled (median of {FLAGS.repeats} "
        f"calls):\n\n"
    )
    text += results.markdown_table(
        ("k", "sparsity", "BPTT ms/step", *(f"{m} / BPTT" for m in METHODS)), speed
    )
    text += (
        f"\n\nCopy with a length curriculum (L + 1 when the last {FLAGS.patience} batches "
        f"average under {FLAGS.threshold} bits per bit), GRU k = {FLAGS.copy_units} at "
        f"sparsity {FLAGS.copy_sparsity}, {FLAGS.batches} batches of "
        f"{FLAGS.copy_batch_size} sequences each, Adam {FLAGS.learning_rate}:\n\n"
    )
    text += results.markdown_table(
        ("method", "updates", "L reached", "data steps seen", "seconds"),
        [
            (
                method,
                "every step" if method != "BPTT" else "every sequence",
                int(curve[-1, 1]),
                f"{int(curve[-1, 0]):,}",
                f"{seconds:.0f}",
            )
            for method, (curve, seconds) in curves.items()
        ],
    )
    text += (
        f"\n\nPicture: `{results.shown_path(plot)}`. "
        f"Whole script: {time.perf_counter() - wall:.0f} s."
    )
    results.write_block("snap", text)


if __name__ == "__main__":
    app.run(main)
