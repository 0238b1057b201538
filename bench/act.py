"""Adaptive Computation Time (arXiv 1603.08983) on parity and on `text`, at a small CPU scale.

1. Parity (Sec. 3.1): the `act` model (one ACT cell around a tanh RNN, one
   input step per vector) trained on `--num_bits`-bit parity at each
   `--time_penalties` value, and the same network with one fixed step
   (`max_ponder_steps=1`, the paper's baseline); the test sequence error rate
   and the mean ponder steps N, plotted against the time penalty in
   docs/act_parity.png.
2. Character modelling (Sec. 3.5): an ACT LSTM trained briefly on `text`;
   the ponder steps per input character of a test snippet, drawn in
   docs/act_text_ponder.png, and their mean at spaces, letters and other
   characters.
3. Writes the tables into docs/RESULTS.md (block `act`) unless `--nowrite`.

    python -m bench.act [--steps 2000] [--addition_steps 3000] [--text_steps 2000] [--nowrite]
    python -m bench.act --tiny   # 4-bit parity, 2 steps per run: a smoke run

Each training run stops at its steps (`--steps`, `--addition_steps`, `--text_steps`) or its
time cap, whichever comes first; the step caps make each sweep equal in data seen.
"""

import os
import time

import numpy as np
from absl import app, flags

from bench import results
from bench import sequence_tasks as tasks
from tfgen.data import text as text_data

FLAGS = flags.FLAGS
flags.DEFINE_integer("num_bits", 6, "Parity input bits (paper: 64).")
flags.DEFINE_integer("units", 128, "Tanh units of the parity network (paper: 128).")
flags.DEFINE_integer("max_ponder_steps", 20, "ACT's step cap M on parity (paper: 100).")
flags.DEFINE_integer("addition_max_ponder_steps", 10, "ACT's step cap M on addition.")
flags.DEFINE_integer("text_max_ponder_steps", 6, "ACT's step cap M on `text`.")
flags.DEFINE_list(
    "time_penalties", ["0.0001", "0.001", "0.01", "0.1"], "The time penalties tau to sweep."
)
flags.DEFINE_integer("steps", 2000, "Training steps per parity run.")
flags.DEFINE_float("seconds", 300.0, "Training time cap (s) per parity run.")
flags.DEFINE_integer("batch_size", 128, "Training batch size.")
flags.DEFINE_float("learning_rate", 1e-2, "Adam learning rate on parity.")
flags.DEFINE_float("text_learning_rate", 3e-3, "Adam learning rate on `text`.")
flags.DEFINE_integer("test_size", 1000, "Test sequences scored per parity or addition run.")
flags.DEFINE_integer("addition_digits", 3, "Most digits per number in addition (paper: 5).")
flags.DEFINE_integer("addition_numbers", 3, "Most numbers per addition sequence (paper: 5).")
flags.DEFINE_integer("addition_units", 128, "LSTM units of the addition network (paper: 512).")
flags.DEFINE_list(
    "addition_time_penalties", ["0.001", "0.01"], "The time penalties tau of addition."
)
flags.DEFINE_integer("addition_steps", 3000, "Training steps per addition run.")
flags.DEFINE_float("addition_seconds", 600.0, "Training time cap (s) per addition run.")
flags.DEFINE_float("addition_learning_rate", 3e-3, "Adam learning rate on addition.")
flags.DEFINE_integer("text_units", 64, "LSTM units of the ACT character model.")
flags.DEFINE_integer("text_seq_len", 32, "Characters per training window of `text`.")
flags.DEFINE_float("text_time_penalty", 0.003, "Time penalty of the ACT character model.")
flags.DEFINE_integer("text_steps", 2000, "Training steps of the character model.")
flags.DEFINE_float("text_seconds", 900.0, "Training time cap (s) of the character model.")
flags.DEFINE_integer("snippet", 120, "Characters of the test snippet drawn.")
flags.DEFINE_string(
    "parity_plot", os.path.join(results.DOCS, "act_parity.png"), "Where to draw parity results."
)
flags.DEFINE_string(
    "text_plot", os.path.join(results.DOCS, "act_text_ponder.png"), "Where to draw the snippet."
)

# 1603.08983 Sec. 3.1 (64-bit parity, 128 tanh units).
PAPER_PARITY = (
    "Paper (Sec. 3.1, 64 bits): the fixed-step network stays far from solving parity, ACT with "
    "a small time penalty solves most sequences, and the mean ponder steps and the accuracy fall "
    "as tau grows"
)

# The columns of a time-penalty sweep's table (`_sweep` rows).
SWEEP_COLUMNS = ("network", "parameters", "sequence error", "ponder steps", "nats", "steps / s")

# 1603.08983 Sec. 3.3 (5 numbers of 5 digits, 512 LSTM cells).
PAPER_ADDITION = (
    "Paper (Sec. 3.3): the fixed-step LSTM keeps a high sequence error, ACT at low time "
    "penalties learns the task far better, using more ponder steps"
)


def _train(hparams, dataset, options, steps, seconds, learning_rate, test):
    return tasks.train(
        "act",
        hparams,
        dataset,
        options,
        steps=steps,
        seconds=seconds,
        batch_size=FLAGS.batch_size,
        learning_rate=learning_rate,
        test=test,
    )


def _sweep(dataset, options, base, time_penalties, steps, seconds, learning_rate):
    """ACT at each time penalty, then one fixed step: table rows and {label: (tau, error, N)}."""
    test = tasks.test_batch(dataset, options, FLAGS.test_size)
    runs = [
        (f"ACT, tau = {tau}", float(tau), {"time_penalty": float(tau)}) for tau in time_penalties
    ]
    runs.append(("one fixed step (M = 1)", None, {"max_ponder_steps": 1, "time_penalty": 0.0}))
    rows, points = [], {}
    for label, tau, overrides in runs:
        model, limit, curve = _train(
            {**base, **overrides}, dataset, options, steps, seconds, learning_rate, test
        )
        final = curve[limit.steps]
        points[label] = (tau, final["error_rate"], final["ponder_steps"])
        rows.append(
            (
                label,
                f"{tasks.param_count(model):,}",
                tasks.percent(final["error_rate"]),
                f"{final['ponder_steps']:.2f}",
                f"{final['nats_per_target']:.3f}",
                tasks.trained(limit),
            )
        )
    return rows, points


def _parity():
    base = {"core": "rnn", "units": FLAGS.units, "max_ponder_steps": FLAGS.max_ponder_steps}
    return _sweep(
        "parity",
        {"num_bits": FLAGS.num_bits},
        base,
        FLAGS.time_penalties,
        FLAGS.steps,
        FLAGS.seconds,
        FLAGS.learning_rate,
    )


def _addition():
    options = {"num_digits": FLAGS.addition_digits, "seq_len": FLAGS.addition_numbers}
    base = {
        "core": "lstm",
        "units": FLAGS.addition_units,
        "max_ponder_steps": FLAGS.addition_max_ponder_steps,
    }
    return _sweep(
        "addition",
        options,
        base,
        FLAGS.addition_time_penalties,
        FLAGS.addition_steps,
        FLAGS.addition_seconds,
        FLAGS.addition_learning_rate,
    )


def _plot_parity(points, path):
    plt = results.pyplot()

    act = sorted((tau, err, steps) for tau, err, steps in points.values() if tau is not None)
    fixed = [err for tau, err, _ in points.values() if tau is None][0]
    taus = [tau for tau, _, _ in act]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    left.semilogx(taus, [100 * err for _, err, _ in act], marker="o", label="ACT")
    left.axhline(100 * fixed, color="gray", linestyle="--", label="one fixed step")
    left.set_xlabel("time penalty tau")
    left.set_ylabel("test sequence error (%)")
    left.legend(fontsize=8)
    right.semilogx(taus, [steps for _, _, steps in act], marker="o")
    right.set_xlabel("time penalty tau")
    right.set_ylabel("mean ponder steps N")
    fig.suptitle(f"ACT on {FLAGS.num_bits}-bit parity", fontsize=9)
    fig.tight_layout()
    results.save_figure(fig, path)


def _char_kind(code):
    char = chr(code)
    return "space" if char == " " else "letter" if char.isalpha() else "other"


def _text():
    """(table rows, text, ponder steps per character of the snippet, the model's run)."""
    options = {"seq_len": FLAGS.text_seq_len}
    test = tasks.test_batch("text", options, 64)
    hparams = {
        "core": "lstm",
        "units": FLAGS.text_units,
        "max_ponder_steps": FLAGS.text_max_ponder_steps,
        "time_penalty": FLAGS.text_time_penalty,
    }
    model, limit, curve = _train(
        hparams,
        "text",
        options,
        FLAGS.text_steps,
        FLAGS.text_seconds,
        FLAGS.text_learning_rate,
        test,
    )
    tokens = test["tokens"][:, :-1]
    ponder = model.predict_targets(tokens)["ponder_steps"].numpy()
    kinds = np.vectorize(_char_kind)(tokens.numpy())
    rows = [
        (kind, f"{np.sum(kinds == kind):,}", f"{ponder[kinds == kind].mean():.2f}")
        for kind in ("space", "letter", "other")
    ]
    test_bytes = text_data.split_bytes()["test"]
    start = test_bytes.index(b". ") + 2  # The snippet starts at a sentence.
    snippet = np.frombuffer(test_bytes[start : start + FLAGS.snippet], np.uint8)[None]
    steps = model.predict_targets(snippet.astype(np.int32))["ponder_steps"].numpy()[0]
    return rows, snippet[0], steps, (limit, curve[limit.steps]["bits_per_char"])


def _plot_text(snippet, steps, path, per_row=60):
    plt = results.pyplot()

    rows = int(np.ceil(len(snippet) / per_row))
    fig, axes = plt.subplots(rows, 1, figsize=(per_row * 0.2, 2.0 * rows), squeeze=False)
    for row, ax in enumerate(axes[:, 0]):
        chars = snippet[row * per_row : (row + 1) * per_row]
        ax.bar(np.arange(len(chars)), steps[row * per_row : row * per_row + len(chars)])
        ax.set_xticks(np.arange(len(chars)))
        ax.set_xticklabels(["_" if c == 32 else chr(c) for c in chars], fontsize=8)
        ax.set_xlim(-0.5, per_row - 0.5)
        ax.set_ylim(0, max(steps.max() * 1.05, 1))
        ax.set_ylabel("ponder N")
    fig.suptitle(
        "ACT LSTM on `text`: ponder steps per input character (spaces drawn as _)", fontsize=9
    )
    fig.tight_layout()
    results.save_figure(fig, path)


def main(argv):
    del argv
    results.tiny_defaults(
        num_bits=4,
        units=8,
        max_ponder_steps=3,
        addition_max_ponder_steps=3,
        text_max_ponder_steps=3,
        time_penalties=["0.1"],
        steps=2,
        batch_size=4,
        test_size=16,
        addition_digits=2,
        addition_numbers=2,
        addition_units=8,
        addition_time_penalties=["0.01"],
        addition_steps=2,
        text_units=8,
        text_seq_len=16,
        text_steps=2,
        snippet=30,
    )
    wall = time.perf_counter()
    parity_rows, points = _parity()
    parity_plot = results.output_path(FLAGS.parity_plot)
    _plot_parity(points, parity_plot)
    addition_rows, _ = _addition()
    text_rows, snippet, steps, (text_limit, bpc) = _text()
    text_plot = results.output_path(FLAGS.text_plot)
    _plot_text(snippet, steps, text_plot)

    scale = "`--tiny` smoke run, measures nothing: " if FLAGS.tiny else ""
    text = (
        f"{scale}{FLAGS.num_bits}-bit parity (paper: 64 bits), one input step per vector; "
        f"the `act` model: an ACT cell around a tanh RNN of {FLAGS.units} units, epsilon 0.01, "
        f"at most M = {FLAGS.max_ponder_steps} ponder steps (paper: 100), a softmax output; "
        f"Adam {FLAGS.learning_rate}, batches of {FLAGS.batch_size}, {FLAGS.steps} steps per "
        f"run unless its time cap ({FLAGS.seconds:.0f} s) comes first. Test sequence "
        f"error and mean ponder steps N on {FLAGS.test_size} test vectors. "
        f"{results.machine()}.\n\n"
    )
    text += results.markdown_table(SWEEP_COLUMNS, parity_rows)
    text += f"\n\n{PAPER_PARITY}. Plot: `{results.shown_path(parity_plot)}`.\n\n"
    text += (
        f"Addition (Sec. 3.3): sequences of 1 to {FLAGS.addition_numbers} numbers (paper: 5) "
        f"of 1 to {FLAGS.addition_digits} digits (paper: 5), the cumulative sum as digit "
        f"classes at every step after the first; an ACT LSTM of {FLAGS.addition_units} units "
        f"(paper: 512), M = {FLAGS.addition_max_ponder_steps}, "
        f"Adam {FLAGS.addition_learning_rate}, "
        f"{FLAGS.addition_steps} steps per run (cap {FLAGS.addition_seconds:.0f} s); sequence "
        f"error (a sequence is wrong if any digit of any of its sums is):\n\n"
    )
    text += results.markdown_table(SWEEP_COLUMNS, addition_rows)
    text += f"\n\n{PAPER_ADDITION}.\n\n"
    text += (
        f"Character modelling on `text`: an ACT LSTM of {FLAGS.text_units} units, time penalty "
        f"{FLAGS.text_time_penalty}, M = {FLAGS.text_max_ponder_steps}, windows of "
        f"{FLAGS.text_seq_len} bytes, Adam "
        f"{FLAGS.text_learning_rate}, "
        f"{tasks.trained(text_limit)} steps / s, test {bpc:.2f} bits per character; mean "
        f"ponder steps N per input character, by kind, on 64 test windows:\n\n"
    )
    text += results.markdown_table(("input character", "count", "ponder steps"), text_rows)
    text += (
        f"\n\nPaper (Sec. 3.5, Hutter Wikipedia): more ponder steps at spaces and "
        f"ends of words and sentences. Picture: `{results.shown_path(text_plot)}`. Whole "
        f"script: {time.perf_counter() - wall:.0f} s."
    )
    results.write_block("act", text)


if __name__ == "__main__":
    app.run(main)
