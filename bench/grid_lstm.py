"""Grid LSTM (arXiv 1507.01526) against stacked LSTMs of equal parameter count, at small scale.

1. Character modelling on `text` (Sec. 4.3): the 2-D (depth x time) tied
   Grid LSTM against a stacked LSTM of the same depth and (about) the same
   parameter count; test bits per character beside unigram and bigram
   baselines counted on the training split.
2. Parity (Sec. 4.1): the 1-D tied grid over depth against a stacked LSTM
   applied once, on k-bit parity for each k of `--parity_bits`; the longest
   input solved (test error <= `--solved_error`) within the budget.
3. Addition (Sec. 4.2): `long_addition` of `--num_digits`-digit numbers, the
   2-D grid against the stacked LSTM; test sequence accuracy (every digit of
   the sum right) and digit accuracy.
4. Writes the tables into docs/RESULTS.md (block `grid_lstm`) unless `--nowrite`.

    python -m bench.grid_lstm [--text_steps 5000] [--parity_steps 6000] [--nowrite]
    python -m bench.grid_lstm --tiny   # tiny models, 2 steps per run: a smoke run

Each training run stops at its task's `--*_steps` steps or `--*_seconds` time cap, whichever
comes first; the step caps make the comparisons equal in data seen.
"""

import time

from absl import app, flags

from bench import results
from bench import sequence_tasks as tasks
from tfgen.data import text as text_data

FLAGS = flags.FLAGS
flags.DEFINE_integer("batch_size", 32, "Training batch size.")
flags.DEFINE_float("learning_rate", 3e-3, "Adam learning rate.")
flags.DEFINE_bool("jit", False, "Train and score with XLA (slower here: see the table text).")
flags.DEFINE_integer("test_size", 256, "Test examples scored per run.")
flags.DEFINE_integer("text_units", 64, "Units of the 2-D grid on `text`.")
flags.DEFINE_integer("text_layers", 2, "Depth of the grid and of the stacked LSTM on `text`.")
flags.DEFINE_integer("text_seq_len", 64, "Characters per window of `text`.")
flags.DEFINE_integer("text_steps", 5000, "Training steps per model on `text`.")
flags.DEFINE_float("text_seconds", 1500.0, "Training time cap (s) per model on `text`.")
flags.DEFINE_list("parity_bits", ["4", "8", "16"], "Parity input lengths k.")
flags.DEFINE_integer("parity_units", 32, "Units of the 1-D grid on parity.")
flags.DEFINE_integer("parity_layers", 4, "Depth of the 1-D grid and of the stacked LSTM.")
flags.DEFINE_integer("parity_steps", 6000, "Training steps per model and length.")
flags.DEFINE_float("parity_seconds", 300.0, "Training time cap (s) per model and length.")
flags.DEFINE_float("solved_error", 0.01, "A parity length counts as solved at this test error.")
flags.DEFINE_integer("num_digits", 3, "Digits of each number in `long_addition` (paper: 15).")
flags.DEFINE_integer("addition_units", 64, "Units of the 2-D grid on addition.")
flags.DEFINE_integer("addition_layers", 2, "Depth of the grid and the stacked LSTM on addition.")
flags.DEFINE_integer("addition_steps", 12000, "Training steps per model on addition.")
flags.DEFINE_float("addition_seconds", 600.0, "Training time cap (s) per model on addition.")


def _pair(grid_core, units, layers, dataset, options, steps, seconds):
    """Trains the grid and its equal-size stacked LSTM: [(kind, label, model, limit, metrics)]."""
    test = tasks.test_batch(dataset, options, FLAGS.test_size)
    grid = {"core": grid_core, "units": units, "num_layers": layers, "tied": True}
    lstm = {"core": "lstm", "num_layers": layers}
    size = tasks.param_count(tasks.build("grid_lstm", grid, dataset, options))
    lstm["units"] = tasks.matched_units("grid_lstm", lstm, dataset, options, size)
    runs = []
    for kind, label, hparams in (
        ("Grid LSTM", f"Grid LSTM ({grid_core}, tied), {layers} x {units}", grid),
        ("stacked LSTM", f"stacked LSTM, {layers} x {lstm['units']}", lstm),
    ):
        model, limit, curve = tasks.train(
            "grid_lstm",
            hparams,
            dataset,
            options,
            steps=steps,
            seconds=seconds,
            batch_size=FLAGS.batch_size,
            learning_rate=FLAGS.learning_rate,
            test=test,
            jit_compile=FLAGS.jit,
        )
        runs.append((kind, label, model, limit, curve[limit.steps]))
    return runs, test


def _text():
    options = {"seq_len": FLAGS.text_seq_len}
    runs, test = _pair(
        "grid",
        FLAGS.text_units,
        FLAGS.text_layers,
        "text",
        options,
        FLAGS.text_steps,
        FLAGS.text_seconds,
    )
    rows = [
        (label, f"{tasks.param_count(model):,}", f"{m['bits_per_char']:.3f}", tasks.trained(limit))
        for _, label, model, limit, m in runs
    ]
    unigram, bigram = tasks.ngram_bits_per_char(
        text_data.split_bytes()["train"], test["tokens"].numpy()
    )
    rows += [
        ("unigram (training-split counts, add-one)", "-", f"{unigram:.3f}", "-"),
        ("bigram (training-split counts, add-one)", "-", f"{bigram:.3f}", "-"),
    ]
    return rows


def _parity():
    rows, solved = [], {}
    for bits in map(int, FLAGS.parity_bits):
        runs, _ = _pair(
            "grid_1d",
            FLAGS.parity_units,
            FLAGS.parity_layers,
            "parity",
            {"num_bits": bits},
            FLAGS.parity_steps,
            FLAGS.parity_seconds,
        )
        for kind, label, model, limit, m in runs:
            if m["error_rate"] <= FLAGS.solved_error:
                solved[kind] = max(solved.get(kind, 0), bits)
            rows.append(
                (
                    bits,
                    label,
                    f"{tasks.param_count(model):,}",
                    tasks.percent(m["error_rate"]),
                    tasks.trained(limit),
                )
            )
    return rows, solved


def _addition():
    options = {"num_digits": FLAGS.num_digits, "fixed_length": True}
    runs, _ = _pair(
        "grid",
        FLAGS.addition_units,
        FLAGS.addition_layers,
        "long_addition",
        options,
        FLAGS.addition_steps,
        FLAGS.addition_seconds,
    )
    return [
        (
            label,
            f"{tasks.param_count(model):,}",
            tasks.percent(1 - m["error_rate"]),
            f"{m['nats_per_target']:.3f}",
            tasks.trained(limit),
        )
        for _, label, model, limit, m in runs
    ]


def main(argv):
    del argv
    results.tiny_defaults(
        text_steps=2,
        parity_steps=2,
        addition_steps=2,
        batch_size=4,
        test_size=8,
        text_units=8,
        text_seq_len=16,
        parity_bits=["4"],
        parity_units=8,
        parity_layers=2,
        num_digits=2,
        addition_units=8,
    )
    wall = time.perf_counter()
    text_rows = _text()
    parity_rows, solved = _parity()
    addition_rows = _addition()

    scale = "`--tiny` smoke run, measures nothing. " if FLAGS.tiny else ""
    text = (
        f"{scale}Every model: Adam {FLAGS.learning_rate} (gradients clipped to norm 1), "
        f"batches of {FLAGS.batch_size}, {'XLA-compiled' if FLAGS.jit else 'not XLA-compiled'}, "
        f"the task's number of steps unless its time cap comes first "
        f"(steps taken / seconds in the last column); the stacked LSTM has the grid's depth and "
        f"the units that bring its parameter count nearest the grid's; scored on "
        f"{FLAGS.test_size} test examples. {results.machine()}.\n\n"
        f"Character modelling on `text` (windows of {FLAGS.text_seq_len} bytes, "
        f"{FLAGS.text_steps} steps), test bits "
        f"per character (paper, Sec. 4.3: 1.47 on Hutter Wikipedia with a tied 6 x 1000 2-D "
        f"grid, against 1.67 for a stacked LSTM):\n\n"
    )
    text += results.markdown_table(("model", "parameters", "bits/char", "steps / s"), text_rows)
    best = ", ".join(
        f"{kind}: {solved.get(kind, 0) or 'none'}" for kind in ("Grid LSTM", "stacked LSTM")
    )
    text += (
        f"\n\nParity (Sec. 4.1), k-bit vectors in one step, {FLAGS.parity_steps} steps per "
        f"model and length; longest k solved (test error <= "
        f"{tasks.percent(FLAGS.solved_error)}): {best} (paper: the tied 1-D grid solves parity "
        f"of up to 250 bits):\n\n"
    )
    text += results.markdown_table(
        ("bits k", "model", "parameters", "test error", "steps / s"), parity_rows
    )
    text += (
        f"\n\nAddition (Sec. 4.2) of two {FLAGS.num_digits}-digit numbers, "
        f"{FLAGS.addition_steps} steps (paper: 15 digits, "
        f"learned by the tied 2-D grid faster and better than by stacked LSTMs), "
        f"sequence accuracy (the whole sum right):\n\n"
    )
    text += results.markdown_table(
        ("model", "parameters", "sequence accuracy", "nats/digit", "steps / s"), addition_rows
    )
    text += f"\n\nWhole script: {time.perf_counter() - wall:.0f} s."
    results.write_block("grid_lstm", text)


if __name__ == "__main__":
    app.run(main)
