"""Associative LSTM (arXiv 1602.03032, Sec. 5) against an LSTM of equal parameter count.

1. Trains the `associative_lstm` model (`core="associative"`) and its LSTM
   baseline (`core="lstm"`, the units that bring its parameter count nearest
   the Associative LSTM's) on episodic copy and on variable assignment,
   scoring a fixed batch of test examples every `--eval_every` steps.
2. Reports the final test sequence error rate and nats per target, and draws
   the learning curves in docs/associative_lstm_tasks.png.
3. Writes the table into docs/RESULTS.md (block `associative_tasks`) unless `--nowrite`.

    python -m bench.associative_tasks [--steps 1500] [--nowrite]
    python -m bench.associative_tasks --tiny   # tiny models, 2 steps per run: a smoke run

Each training run stops at `--steps` steps or `--seconds` seconds, whichever comes first.
"""

import os
import time

from absl import app, flags

from bench import results
from bench import sequence_tasks as tasks

FLAGS = flags.FLAGS
flags.DEFINE_integer("units", 32, "Complex units of the Associative LSTM.")
flags.DEFINE_integer("num_copies", 4, "Memory copies of the Associative LSTM.")
flags.DEFINE_integer("max_len", 5, "Most characters of an episodic-copy episode (dataset: 10).")
flags.DEFINE_integer("max_pause", 20, "Most blanks of an episodic-copy pause (dataset: 100).")
flags.DEFINE_integer("max_assignments", 4, "Most assignments of a variable-assignment example.")
flags.DEFINE_integer("max_key_len", 4, "Most letters of a variable name.")
flags.DEFINE_integer("steps", 1500, "Training steps per run.")
flags.DEFINE_float("seconds", 150.0, "Training time cap (s) per run.")
flags.DEFINE_integer("batch_size", 32, "Training batch size.")
flags.DEFINE_float("learning_rate", 3e-3, "Adam learning rate.")
flags.DEFINE_bool("jit", True, "Train and score with XLA (off in --tiny: compiling costs more).")
flags.DEFINE_integer("test_size", 256, "Test examples scored.")
flags.DEFINE_integer("eval_every", 100, "Steps between two scorings of the test examples.")
flags.DEFINE_string(
    "plot",
    os.path.join(results.DOCS, "associative_lstm_tasks.png"),
    "Where to draw the learning curves.",
)


def _tasks():
    return (
        (
            "episodic copy",
            "episodic_copy",
            {"max_len": FLAGS.max_len, "max_pause": FLAGS.max_pause},
        ),
        (
            "variable assignment",
            "variable_assignment",
            {"max_assignments": FLAGS.max_assignments, "max_key_len": FLAGS.max_key_len},
        ),
    )


def _task_runs(dataset, options):
    """[(label, parameters, limit, curve)] of the Associative LSTM and its LSTM on `dataset`."""
    test = tasks.test_batch(dataset, options, FLAGS.test_size)
    associative = {"core": "associative", "units": FLAGS.units, "num_copies": FLAGS.num_copies}
    size = tasks.param_count(tasks.build("associative_lstm", associative, dataset, options))
    lstm = {"core": "lstm"}
    lstm["units"] = tasks.matched_units("associative_lstm", lstm, dataset, options, size)
    runs = []
    for label, hparams in (
        (f"Associative LSTM, {FLAGS.units} complex units, {FLAGS.num_copies} copies", associative),
        (f"LSTM, {lstm['units']} units", lstm),
    ):
        model, limit, curve = tasks.train(
            "associative_lstm",
            hparams,
            dataset,
            options,
            steps=FLAGS.steps,
            seconds=FLAGS.seconds,
            batch_size=FLAGS.batch_size,
            learning_rate=FLAGS.learning_rate,
            test=test,
            every=FLAGS.eval_every,
            jit_compile=FLAGS.jit,
        )
        runs.append((label, tasks.param_count(model), limit, curve))
    return runs


def main(argv):
    del argv
    results.tiny_defaults(
        units=4,
        num_copies=2,
        max_len=2,
        max_pause=2,
        max_assignments=2,
        max_key_len=2,
        steps=2,
        jit=False,
        batch_size=4,
        test_size=8,
        eval_every=1,
    )
    wall = time.perf_counter()
    rows, panels = [], []
    for title, dataset, options in _tasks():
        runs = _task_runs(dataset, options)
        for label, size, limit, curve in runs:
            final = curve[limit.steps]
            rows.append(
                (
                    title,
                    label,
                    f"{size:,}",
                    tasks.percent(final["error_rate"]),
                    f"{final['nats_per_target']:.3f}",
                    tasks.trained(limit),
                )
            )
        for metric, ylabel in (
            ("nats_per_target", "test nats per target"),
            ("error_rate", "test sequence error"),
        ):
            panels.append(
                (
                    title,
                    ylabel,
                    {
                        label: {s: m[metric] for s, m in curve.items()}
                        for label, _, _, curve in runs
                    },
                )
            )
    plot = results.output_path(FLAGS.plot)
    tasks.plot_curves(plot, panels, "Associative LSTM against an LSTM of equal parameter count")

    scale = "`--tiny` smoke run, measures nothing. " if FLAGS.tiny else ""
    text = (
        f"{scale}Episodic copy: 1 to {FLAGS.max_len} of 8 characters, a pause of 1 to "
        f"{FLAGS.max_pause} blanks, the delimiter, then the recall (the loss and the error cover "
        f"every step of the episode); variable assignment: 1 to {FLAGS.max_assignments} "
        f"assignments to names of 1 to {FLAGS.max_key_len} letters, then a query (the loss and "
        f"the error cover the answer and the full stop). Every model: Adam "
        f"{FLAGS.learning_rate} (gradients clipped to norm 1), batches of {FLAGS.batch_size}, at "
        f"most {FLAGS.steps} steps or {FLAGS.seconds:.0f} s{', XLA-compiled' * FLAGS.jit}; "
        f"the LSTM has the units that bring its parameter count nearest the Associative "
        f"LSTM's. Test sequence error (a sequence is wrong if any target is) and nats per "
        f"target on {FLAGS.test_size} test examples. {results.machine()}.\n\n"
    )
    text += results.markdown_table(
        ("task", "model", "parameters", "sequence error", "nats/target", "steps / s"), rows
    )
    text += (
        f"\n\nPaper (Sec. 5, longer sequences and far longer training): the Associative LSTM "
        f"learns episodic copy and variable assignment faster than LSTMs of the same parameter "
        f"count. Learning curves: `{results.shown_path(plot)}`. Whole script: "
        f"{time.perf_counter() - wall:.0f} s."
    )
    results.write_block("associative_tasks", text)


if __name__ == "__main__":
    app.run(main)
