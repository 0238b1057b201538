"""Memory-efficient BPTT (arXiv 1606.03401) against plain BPTT: memory and time per iteration.

An LSTM (`--units`, batch `--batch`, a Dense readout and a squared-error loss at every step) is
trained on random sequences of length T = `--lengths`. Plain BPTT is `tf.GradientTape` over
`tf.keras.layers.RNN` (a `tf.while_loop`, whose gradient keeps every step's internal state);
BPTT-HSM is `msm_gradients` under the optimal hidden-state policy for `m` slots, `m` chosen so
that its stored activations are `--memory` fractions of BPTT's. Each configuration runs in its
own process (`--one`), which reports its peak RSS (`ru_maxrss`), its time per iteration (the
best of `--repeats`) and the forward evaluations it made. Stored activations are computed from
the policy: `m` hidden states `(h, c)` for BPTT-HSM, `T * alpha` hidden-state sizes for BPTT,
where `alpha = 3` is the LSTM's internal state (4 gates, `c`, `tanh c`: 6 units) over its hidden
state (`h`, `c`: 2 units). The DP's cost `Q(T, m) / T` (forward evaluations per step) is the
paper's curve; the picture sets it beside the measured time ratio. Writes docs/bptt_msm.png and
the table into docs/RESULTS.md (block `bptt_msm`) unless `--nowrite`.

    python -m bench.bptt_msm [--lengths 100,300,1000] [--units 256] [--nowrite]
    python -m bench.bptt_msm --tiny   # short sequences, 8 units: a smoke run
"""

import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
from absl import app, flags

from bench import results

FLAGS = flags.FLAGS
flags.DEFINE_list("lengths", ["100", "300", "1000"], "Sequence lengths T.")
flags.DEFINE_list("memory", ["0.2", "0.05", "0.02"], "HSM budgets, as fractions of BPTT memory.")
flags.DEFINE_integer("units", 256, "LSTM units.")
flags.DEFINE_integer("batch", 32, "Sequences per batch.")
flags.DEFINE_integer("features", 32, "Input and target features per step.")
flags.DEFINE_integer("repeats", 3, "Timed iterations per configuration (the best is kept).")
flags.DEFINE_string("one", None, "Internal: run one configuration `method:T:m` and print JSON.")
flags.DEFINE_string("plot", os.path.join(results.DOCS, "bptt_msm.png"), "The picture.")

ALPHA = 3  # LSTM internal state / hidden state (6 units / 2 units)
PAPER = "95% of memory saved for at most 33% more time per iteration at T = 1000"


def _run_one(method, length, slots):
    """One configuration in this process: returns its measurements."""
    import tensorflow as tf

    from tfgen.algorithms.bptt_msm import msm_gradients, policy

    tf.random.set_seed(0)
    shape = [FLAGS.batch, length, FLAGS.features]
    inputs, targets = tf.random.normal(shape), tf.random.normal(shape)
    cell = tf.keras.layers.LSTMCell(FLAGS.units)
    readout = tf.keras.layers.Dense(FLAGS.features)
    rnn = tf.keras.layers.RNN(cell, return_sequences=True)
    loss_fn = tf.keras.losses.MeanSquaredError()
    readout(rnn(inputs[:, :1]))
    variables = cell.trainable_variables + readout.trainable_variables
    evaluations = 0

    if method == "forward":  # the process's memory without any gradient

        @tf.function
        def iteration():
            return loss_fn(targets, readout(rnn(inputs)))

    elif method == "bptt":
        evaluations = length

        @tf.function
        def iteration():
            with tf.GradientTape() as tape:
                loss = loss_fn(targets, readout(rnn(inputs)))
            return loss, tape.gradient(loss, variables)

    else:
        plan = policy(length, slots, method)
        evaluations = plan.cost
        iteration = tf.function(
            lambda: msm_gradients(cell, readout, inputs, targets, loss_fn, plan)[:2]
        )
    seconds = results.time_calls(iteration, FLAGS.repeats)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"seconds": float(seconds.min()), "peak_rss": peak, "evaluations": evaluations}


def _measure(method, length, slots):
    """Runs one configuration in a fresh process (`--one`)."""
    command = [sys.executable, "-m", "bench.bptt_msm", f"--one={method}:{length}:{slots}"]
    command += [f"--{name}={FLAGS[name].value}" for name in ("units", "batch", "features")]
    command += [f"--repeats={FLAGS.repeats}"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _plot(path, curves, measured):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for length, (fractions, hsm, msm) in curves.items():
        (line,) = left.plot(fractions, hsm, label=f"HSM, T = {length}")
        left.plot(fractions, msm, "--", color=line.get_color(), label=f"MSM, T = {length}")
    left.set(xscale="log", xlabel="memory / BPTT's", ylabel="DP cost Q(T, m) / T")
    left.set_title("The paper's curve (from the DP, alpha = 3)")
    left.legend(fontsize=7)
    for length, points in measured.items():
        memory, ratio = zip(*sorted(points))
        right.plot(memory, ratio, "o-", label=f"T = {length}")
    right.axhline(1.33, color="grey", ls=":", label="paper: 1.33x at 5% memory")
    right.axvline(0.05, color="grey", ls=":")
    right.set(xscale="log", xlabel="stored activations / BPTT's", ylabel="time / BPTT's")
    budgets = sorted({memory for points in measured.values() for memory, _ in points})
    right.set_xticks(budgets, [f"{100 * budget:g}%" for budget in budgets])
    right.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    right.set_title("Measured: BPTT-HSM time per iteration")
    right.legend(fontsize=7)
    figure.tight_layout()
    results.save_figure(figure, path)


def _theory(length):
    from tfgen.algorithms.bptt_msm import hsm_cost, msm_cost

    slots = np.unique(np.geomspace(2, length, 24).astype(int))  # HSM: at most T slots
    hsm = [hsm_cost(length, int(m)) / length for m in slots]
    msm = [msm_cost(length, int(m), ALPHA) / length for m in slots]
    return slots / (ALPHA * length), hsm, msm


def main(argv):
    del argv
    if FLAGS.one:
        method, length, slots = FLAGS.one.split(":")
        print(json.dumps(_run_one(method, int(length), int(slots))))
        return
    results.tiny_defaults(lengths=["20"], units=8, batch=2, features=3, repeats=1)
    state_bytes = 2 * FLAGS.units * FLAGS.batch * 4  # (h, c), float32
    rows, curves, measured, headline = [], {}, {}, None
    start = time.perf_counter()
    for length in map(int, FLAGS.lengths):
        bptt_bytes = length * ALPHA * state_bytes
        idle = _measure("forward", length, 0)["peak_rss"]
        base = _measure("bptt", length, 0)
        budgets = sorted({max(2, round(float(f) * ALPHA * length)) for f in FLAGS.memory})
        configs = [(None, base)] + [(m, _measure("hsm", length, m)) for m in budgets[::-1]]
        curves[length], measured[length] = _theory(length), []
        for slots, result in configs:
            stored = bptt_bytes if slots is None else slots * state_bytes
            memory, ratio = stored / bptt_bytes, result["seconds"] / base["seconds"]
            if slots is not None:
                measured[length].append((memory, ratio))
            if length == 1000 and slots is not None and abs(memory - 0.05) < 0.01:
                headline = (memory, ratio)
            rows.append(
                [
                    length,
                    "BPTT" if slots is None else "BPTT-HSM",
                    "all" if slots is None else slots,
                    f"{stored / 2**20:.2f}",
                    f"{memory:.1%}",
                    f"{result['evaluations'] / length:.2f}",
                    f"{result['peak_rss'] / 2**20:.0f}",
                    f"{(result['peak_rss'] - idle) / 2**20:.0f}",
                    f"{result['seconds']:.3f}",
                    f"{ratio:.2f}x",
                ]
            )
    plot = results.output_path(FLAGS.plot)
    _plot(plot, curves, measured)
    tiny = "`--tiny` smoke run, measures nothing. " if FLAGS.tiny else ""
    reached = (
        f"At T = 1000 with {headline[0]:.0%} of BPTT's stored activations we measure "
        f"{headline[1]:.2f}x BPTT's time per iteration (the paper: {PAPER})."
        if headline
        else f"The paper: {PAPER}."
    )
    text = (
        f"{tiny}LSTM of {FLAGS.units} units, batch "
        f"{FLAGS.batch}, {FLAGS.features} input and target features, a squared-error loss at "
        f"every step; BPTT-HSM with `m` hidden-state slots against `tf.GradientTape` over "
        f"`tf.keras.layers.RNN`. Stored activations from the policy (alpha = {ALPHA}); peak RSS "
        f"of each configuration's own process, and over a forward-only process; time: best of "
        f"{FLAGS.repeats} iterations. {results.machine()}, "
        f"{time.perf_counter() - start:.0f} s in all.\n\n"
    )
    text += results.markdown_table(
        [
            "T",
            "method",
            "m (slots)",
            "stored (MiB)",
            "memory vs BPTT",
            "forward evals / T",
            "peak RSS (MiB)",
            "RSS over forward (MiB)",
            "s / iteration",
            "time vs BPTT",
        ],
        rows,
    )
    text += f"\n\n{reached}\n\nPicture: `{results.shown_path(plot)}`.\n"
    results.write_block("bptt_msm", text)


if __name__ == "__main__":
    app.run(main)
