"""Sparse Access Memory (arXiv 1610.09027) against the dense memory core: cost and learning.

1. Cost of a training step as the memory grows (block `sam`). A training step is the forward
   and backward pass over T = `--steps` time steps (`tf.GradientTape`, the gradients of the sum
   of the outputs with respect to the trainable weights) in `tf.function(jit_compile=True)`,
   batch `--batch`, for `SparseMemory(index="lsh")`, `SparseMemory(index="exact")` and
   `tf.keras.layers.RNN(DenseMemoryCell)` with the same controller (`--units`, word size
   `--word_size`, `--num_reads` heads, K = `--num_neighbours`) at N = 2^`--log2_sizes`, and SAM
   (lsh) in a plain graph (`tf.function` without XLA, which copies the memory at every step) at
   N = 2^`--graph_log2_sizes`. Each configuration runs in a fresh process (`--one`) that
   measures, over T1 = T / 5 and over T steps:
   - the peak memory of one training step: the peak resident set (VmHWM, reset through
     /proc/self/clear_refs) over the resident set before the call, after a first call that
     compiles. The process runs TF's plain CPU allocator (oneDNN's caching one keeps freed
     buffers resident) over glibc malloc set to map every block of 4 KiB or more afresh, and
     gives glibc's free pages back before the call (`malloc_trim`), so that the call's new
     pages are the ones it touches;
   - then, with glibc keeping freed memory as a caching allocator does (`mallopt`), the time
     per training step: the best of `--repeats` calls after a warm-up.
   The marginal costs per time step, (cost(T) - cost(T1)) / (T - T1), leave out the
   per-sequence O(N) setup (zeroing the memory and, for SAM, its gradient buffer and index):
   they are the per-step time and the memory a step keeps for the backward pass, which the
   paper says are O(1) in N for SAM. Dense runs only where its peak, extrapolated linearly in
   N from the dense runs before (before any: 3 memories kept per step), stays under
   `--max_dense_gib`. The machine's limits are
   measured in the same run: the bandwidth of a large NumPy copy and
   `limits.matmul_flops_per_second()`. Log-log picture: docs/sam_scaling.png.
2. Learning (block `sam_learning`): `SAMModel` with each core of `--cores` on copy and
   associative recall, trained with Adam and scored on a fixed test batch every
   `--eval_every` steps; learning curves in docs/sam_learning.png.

Both blocks go into docs/RESULTS.md unless `--nowrite`.

    python -m bench.sam [--log2_sizes 10,12,14,16,18,20] [--steps 50] [--nowrite]
    python -m bench.sam --tiny   # N = 2^6, T = 6, no XLA, 2 learning steps: a smoke run
"""

import ctypes
import functools
import json
import math
import os
import subprocess
import sys
import time

from absl import app, flags

from bench import limits, results
from bench import sequence_tasks as tasks

FLAGS = flags.FLAGS
flags.DEFINE_list("parts", ["cost", "learning"], "Parts to run: cost, learning.")
flags.DEFINE_list("log2_sizes", ["10", "12", "14", "16", "18", "20"], "log2 N of the cost part.")
flags.DEFINE_list("graph_log2_sizes", ["10", "14", "18"], "log2 N of the graph-mode rows.")
flags.DEFINE_integer("steps", 50, "Time steps T of a training step (cost part).")
flags.DEFINE_integer("repeats", 3, "Timed calls per length and configuration (the best is kept).")
flags.DEFINE_float("max_dense_gib", 8.0, "Skip dense where its predicted peak exceeds this.")
flags.DEFINE_integer("units", 100, "LSTM units of the controller (cost part).")
flags.DEFINE_integer("word_size", 32, "Word size W (cost part).")
flags.DEFINE_integer("num_reads", 1, "Read heads H.")
flags.DEFINE_integer("num_neighbours", 4, "Words K each sparse read reaches.")
flags.DEFINE_integer("batch", 1, "Sequences per training step (cost part).")
flags.DEFINE_integer("input_size", 8, "Input features per time step (cost part).")
flags.DEFINE_integer("bandwidth_mib", 512, "MiB of the NumPy copy that measures bandwidth.")
flags.DEFINE_bool(
    "shared_processes",
    False,
    "One process measures every method of one N (--tiny: saves start-ups); default: a fresh "
    "process per configuration.",
)
flags.DEFINE_string("one", None, "Internal: measure configurations `method:N:T,...`, print JSON.")
flags.DEFINE_string("plot", os.path.join(results.DOCS, "sam_scaling.png"), "Cost picture.")
flags.DEFINE_list("cores", ["lsh", "exact", "dense"], "Cores of the learning part.")
flags.DEFINE_integer("learn_units", 64, "LSTM units of the controller (learning part).")
flags.DEFINE_integer("learn_memory_size", 64, "Memory words N (learning part).")
flags.DEFINE_integer("learn_word_size", 16, "Word size W (learning part).")
flags.DEFINE_integer("num_bits", 6, "Bits per vector of both tasks.")
flags.DEFINE_integer("max_len", 8, "Longest copy sequence.")
flags.DEFINE_integer("item_len", 2, "Vectors per associative-recall item.")
flags.DEFINE_integer("min_items", 2, "Fewest associative-recall items.")
flags.DEFINE_integer("max_items", 4, "Most associative-recall items.")
flags.DEFINE_integer("learn_steps", 2000, "Training steps per learning run.")
flags.DEFINE_float("seconds", 120.0, "Training time cap (s) per learning run.")
flags.DEFINE_integer("batch_size", 32, "Training batch size (learning part).")
flags.DEFINE_float("learning_rate", 1e-2, "Adam learning rate.")
flags.DEFINE_bool("jit", True, "Compile with XLA (off in --tiny: compiling costs more).")
flags.DEFINE_integer("test_size", 256, "Test sequences scored.")
flags.DEFINE_integer("eval_every", 50, "Steps between two scorings of the test sequences.")
flags.DEFINE_float("threshold", 0.35, "Nats per bit whose first crossing the table reports.")
flags.DEFINE_string(
    "learning_plot", os.path.join(results.DOCS, "sam_learning.png"), "Learning picture."
)

METHODS = {
    "lsh": "SAM (lsh)",
    "exact": "SAM (exact)",
    "dense": "dense",
    "lsh_graph": "SAM (lsh), graph mode",
}
SPARSE = ("lsh", "exact")
CHANCE = math.log(2.0)  # nats per bit of a coin flip
# A measuring process starts with TF's plain CPU allocator over glibc malloc in its measuring
# mode (`_measuring_malloc`).
MEASURING_ENV = {
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "MALLOC_MMAP_THRESHOLD_": "4096",
    "MALLOC_TOP_PAD_": "0",
    "MALLOC_TRIM_THRESHOLD_": "0",
}
ONE_FLAGS = ("repeats", "units", "word_size", "num_reads", "num_neighbours", "batch")
ONE_FLAGS += ("input_size", "jit")
# What dense BPTT keeps per time step, in memories [B, N, W] (measured: 2.4 at W = 32).
DENSE_COPIES_PER_STEP = 3
PAPER = "1,000x faster and with 3,000x less physical memory than non-sparse models"


# ---------------------------------------------------------------- one configuration
def _reset_peak():
    """Sets VmHWM back to VmRSS (Linux: 5 written to /proc/self/clear_refs)."""
    with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
        clear_refs.write("5")


def _release_freed_memory():
    """Gives the free pages of glibc's heaps back to the system (man malloc_trim)."""
    ctypes.CDLL("libc.so.6").malloc_trim(0)


def _mallopt(**parameters):
    """Sets glibc malloc's parameters (man mallopt): trim_threshold, top_pad, mmap_*."""
    codes = {"trim_threshold": -1, "top_pad": -2, "mmap_threshold": -3, "mmap_max": -4}
    libc = ctypes.CDLL("libc.so.6")
    for name, value in parameters.items():
        if not libc.mallopt(codes[name], value):
            raise OSError(f"mallopt: expected glibc to accept {name}={value}.")


def _measuring_malloc():
    """Every block of 4 KiB or more mapped afresh and unmapped when freed, no free top pages:
    what a call frees leaves the resident set (as `MEASURING_ENV` at start-up)."""
    _mallopt(mmap_threshold=4096, mmap_max=65536, top_pad=0, trim_threshold=0)


def _caching_malloc():
    """glibc keeps what is freed for reuse, as a caching allocator does: no mmap, no trimming."""
    _mallopt(mmap_max=0, trim_threshold=-1)


def _short(steps):
    """T1 = T / 5 (at least 1), the shorter length of the marginal time per step."""
    return max(1, steps // 5)


def _core(method, memory_size):
    """The layer of `method`: [B, T, I] -> [B, T, units + H * W]."""
    import tensorflow as tf

    from tfgen.layers.memory import DenseMemoryCell
    from tfgen.layers.sparse_memory import SparseMemory

    sizes = dict(
        units=FLAGS.units,
        memory_size=memory_size,
        word_size=FLAGS.word_size,
        num_reads=FLAGS.num_reads,
    )
    if method == "dense":
        return tf.keras.layers.RNN(DenseMemoryCell(**sizes), return_sequences=True)
    index = "exact" if method == "exact" else "lsh"
    return SparseMemory(**sizes, num_neighbours=FLAGS.num_neighbours, index=index)


def _training_step(method, memory_size, steps):
    """`run(length)`: one training step of `method` at N = `memory_size` over T1 or T steps."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    layer = _core(method, memory_size)
    inputs = tf.random.stateless_normal([FLAGS.batch, steps, FLAGS.input_size], [0, 1])
    layer(inputs[:, :1])

    def training_step(inputs):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(inputs))
        return loss, tape.gradient(loss, layer.trainable_weights)

    # One trace for both lengths; XLA compiles each length at its first call.
    step = tf.function(
        training_step,
        input_signature=[tf.TensorSpec([FLAGS.batch, None, FLAGS.input_size])],
        jit_compile=FLAGS.jit and method != "lsh_graph",
    )
    batches = {length: inputs[:, :length] for length in (_short(steps), steps)}
    return lambda length: step(batches[length])[0].numpy()


def _run_one(method, memory_size, steps):
    """One configuration in this process: peak memory and time over T1 and over T steps.

    Peak: after a first call (the compile), the resident set one more call adds at its peak
    (VmHWM, reset through /proc/self/clear_refs, over VmRSS before the call), glibc in its
    measuring mode with its free pages given back before the call. Time: the best of
    `--repeats` calls, glibc keeping freed memory.
    """
    _measuring_malloc()
    run = _training_step(method, memory_size, steps)
    lengths, peaks, seconds = (_short(steps), steps), {}, {}
    for length in lengths:
        run(length)
        _release_freed_memory()
        _reset_peak()
        before = results.proc_status("VmRSS")
        run(length)
        peaks[length] = results.proc_status("VmHWM") - before
    _caching_malloc()
    for length in lengths:
        seconds[length] = float(
            results.time_calls(functools.partial(run, length), FLAGS.repeats).min()
        )
    return {
        "peak_bytes": peaks[steps],
        "peak_bytes_short": peaks[lengths[0]],
        "seconds": seconds[steps],
        "seconds_short": seconds[lengths[0]],
    }


def _measure(configurations):
    """Measures [(method, log2 N)] in a fresh process (`--one`): {(method, log2 N): results}."""
    one = ",".join(f"{method}:{2**log2_size}:{FLAGS.steps}" for method, log2_size in configurations)
    command = [sys.executable, "-m", "bench.sam", f"--one={one}"]
    command += [f"--{name}={FLAGS[name].value}" for name in ONE_FLAGS]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **MEASURING_ENV)
    out = subprocess.run(command, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{out.stderr[-3000:]}")
    measured = json.loads(out.stdout.strip().splitlines()[-1])
    extra_steps = FLAGS.steps - _short(FLAGS.steps)
    for result in measured:
        result["per_step"] = (result["seconds"] - result["seconds_short"]) / extra_steps
        result["bytes_per_step"] = (result["peak_bytes"] - result["peak_bytes_short"]) / extra_steps
    return dict(zip(configurations, measured))


# ---------------------------------------------------------------- cost part
def _predicted_dense_bytes(dense_peaks, memory_size):
    """Dense peak at `memory_size`: linear in N through the last two dense runs (or from one).

    Before any dense run: `DENSE_COPIES_PER_STEP` memories kept per time step.
    """
    points = sorted(dense_peaks.items())[-2:]
    if not points:
        memory_bytes = FLAGS.batch * memory_size * FLAGS.word_size * 4
        return DENSE_COPIES_PER_STEP * FLAGS.steps * memory_bytes
    if len(points) == 1:
        ((size, peak),) = points
        return peak * memory_size / size
    (n1, p1), (n2, p2) = points
    return p2 + (p2 - p1) / (n2 - n1) * (memory_size - n2)


def _cost_runs():
    """{(method, log2 N): measurements, or {"skipped": predicted peak bytes} for dense}."""
    sizes, graph_sizes = set(map(int, FLAGS.log2_sizes)), set(map(int, FLAGS.graph_log2_sizes))
    runs, dense_peaks = {}, {}
    for log2_size in sorted(sizes | graph_sizes):
        methods = ["lsh", "exact", "dense"] if log2_size in sizes else []
        if "dense" in methods:
            predicted = _predicted_dense_bytes(dense_peaks, 2**log2_size)
            if predicted > FLAGS.max_dense_gib * 2**30:
                runs["dense", log2_size] = {"skipped": predicted}
                methods.remove("dense")
        methods += ["lsh_graph"] * (log2_size in graph_sizes)
        jobs = [methods] if FLAGS.shared_processes else [[method] for method in methods]
        for job in jobs:
            runs.update(_measure([(method, log2_size) for method in job]))
        if "dense" in methods:
            dense_peaks[2**log2_size] = runs["dense", log2_size]["peak_bytes"]
    return runs


def _number(value):
    """Three significant digits, no exponent from 1,000 up: 0.0123, 12.3, 12,345."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def _times(numerator, denominator):
    """`numerator / denominator` as "12.3x", "-" unless both are positive."""
    if numerator <= 0 or denominator <= 0:
        return "-"
    return f"{_number(numerator / denominator)}x"


def _ran(run):
    """Whether a configuration ran (it exists and was not skipped)."""
    return run is not None and "skipped" not in run


def _against_dense(runs, method, log2_size, key):
    """The "dense ... / ..." cell of `key` for `method` at N = 2^`log2_size`."""
    dense = runs.get(("dense", log2_size))
    if not _ran(dense):
        return "-"
    return _times(dense[key], runs[method, log2_size][key])


def _cost_rows(runs):
    """The table rows, by N and then in the order of `METHODS`."""
    order = list(METHODS)
    rows = []
    for method, log2_size in sorted(runs, key=lambda key: (key[1], order.index(key[0]))):
        run = runs[method, log2_size]
        if "skipped" in run:
            need = f"skipped: would need {run['skipped'] / 2**30:.1f} GiB"
            rows.append([f"2^{log2_size}", METHODS[method], need] + ["-"] * 5)
            continue
        rows.append(
            [
                f"2^{log2_size}",
                METHODS[method],
                _number(1e3 * run["seconds"]),
                _number(1e3 * run["per_step"]),
                _number(run["peak_bytes"] / 2**20),
                _number(run["bytes_per_step"] / 2**10),
                _against_dense(runs, method, log2_size, "seconds"),
                _against_dense(runs, method, log2_size, "peak_bytes"),
            ]
        )
    return rows


def _kib(run):
    """The marginal memory per time step of `run`, in KiB."""
    return f"{_number(run['bytes_per_step'] / 2**10)} KiB"


def _headline(runs):
    """SAM against dense at the largest N both ran, and how SAM's costs grow with N."""
    sentences = []
    dense_sizes = [n for (m, n), run in runs.items() if m == "dense" and _ran(run)]
    for method in SPARSE:
        shared = max((n for n in dense_sizes if (method, n) in runs), default=None)
        if shared is None:
            continue
        sam, dense = runs[method, shared], runs["dense", shared]
        sentences.append(
            f"At N = 2^{shared}, the largest N both ran, {METHODS[method]} is "
            f"{_times(dense['seconds'], sam['seconds'])} faster per training step "
            f"({_times(dense['per_step'], sam['per_step'])} per time step) and needs "
            f"{_times(dense['peak_bytes'], sam['peak_bytes'])} less peak memory than dense "
            f"({_kib(sam)} against {_kib(dense)} per time step)."
        )
    sizes = sorted(map(int, FLAGS.log2_sizes))
    low, high = sizes[0], sizes[-1]
    for method in SPARSE * (low < high):
        first, last = runs[method, low], runs[method, high]
        sentences.append(
            f"{METHODS[method]} at N = 2^{high} against 2^{low} ({2 ** (high - low):,}x the "
            f"words): time per time step {_times(last['per_step'], first['per_step'])}, "
            f"per training step {_times(last['seconds'], first['seconds'])}; peak memory "
            f"{_times(last['peak_bytes'], first['peak_bytes'])}, memory per time step "
            f"{_kib(last)} against {_kib(first)}."
        )
    graph = max((n for m, n in runs if m == "lsh_graph" and ("lsh", n) in runs), default=None)
    if graph is not None:
        plain, compiled = runs["lsh_graph", graph], runs["lsh", graph]
        sentences.append(
            f"Without XLA, SAM (lsh) at N = 2^{graph} takes "
            f"{_times(plain['per_step'], compiled['per_step'])} the compiled time per time step: "
            f"a graph copies the memory at every step, XLA updates it in place."
        )
    return " ".join(sentences) + f" The paper (abstract): SAM runs {PAPER}."


def _limits(runs, bandwidth):
    """How many passes over its memory at the copy bandwidth one dense time step takes."""
    passes = [
        f"{_number(run['per_step'] * bandwidth / (FLAGS.batch * 2**n * FLAGS.word_size * 4))} "
        f"at 2^{n}"
        for (method, n), run in sorted(runs.items(), key=lambda item: item[0][1])
        if method == "dense" and _ran(run)
    ]
    if not passes:
        return ""
    return (
        "A dense time step reads every word, so it cannot beat one pass over its memory at the "
        "copy bandwidth; here one dense time step takes the time of that many passes: "
        + ", ".join(passes)
        + "."
    )


def _plot_cost(path, runs):
    """Log-log: time (left) and memory (right), per training step (top) and time step."""
    plt = results.pyplot()
    from matplotlib import ticker

    figure, axes = plt.subplots(2, 2, figsize=(11, 8))
    panels = (
        ("seconds", 1e3, "ms per training step (T steps, forward + backward)"),
        ("peak_bytes", 2.0**-20, "peak MiB per training step"),
        ("per_step", 1e3, "ms per time step (marginal)"),
        ("bytes_per_step", 2.0**-10, "KiB per time step (marginal)"),
    )
    for axis, (key, scale, label) in zip(axes.flat, panels):
        for method, name in METHODS.items():
            points = sorted(
                (2**log2_size, scale * run[key])
                for (m, log2_size), run in runs.items()
                if m == method and _ran(run) and run[key] > 0
            )
            if points:
                axis.plot(*zip(*points), "o-", label=name)
        axis.set_xscale("log", base=2)
        axis.set(yscale="log", xlabel="memory words N", ylabel=label)
        axis.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
        axis.legend(fontsize=7)
    figure.suptitle(
        f"SAM against the dense core: batch {FLAGS.batch}, T = {FLAGS.steps}, "
        f"W = {FLAGS.word_size}, K = {FLAGS.num_neighbours}",
        fontsize=9,
    )
    figure.tight_layout()
    results.save_figure(figure, path)


def cost_part():
    """Part 1: measures every configuration, draws the picture, writes block `sam`."""
    start = time.perf_counter()
    bandwidth = limits.copy_bytes_per_second(FLAGS.bandwidth_mib)
    flops = limits.matmul_flops_per_second()
    runs = _cost_runs()
    plot = results.output_path(FLAGS.plot)
    _plot_cost(plot, runs)
    tiny = "`--tiny` smoke run, measures nothing. " if FLAGS.tiny else ""
    compiled = "`tf.function(jit_compile=True)`" if FLAGS.jit else "`tf.function` (no XLA)"
    processes = (
        "One fresh process measures every method at one N."
        if FLAGS.shared_processes
        else "Each configuration in a fresh process."
    )
    text = (
        f"{tiny}A training step: forward and backward over T = {FLAGS.steps} steps "
        f"(`tf.GradientTape`, gradients of the sum of the outputs with respect to the weights) "
        f"in {compiled}, batch {FLAGS.batch}, an LSTM controller of {FLAGS.units} units, "
        f"W = {FLAGS.word_size}, {FLAGS.num_reads} read head(s), K = {FLAGS.num_neighbours}; "
        f"the graph-mode rows run SAM (lsh) in `tf.function` without XLA, which copies the "
        f"memory at every step. {processes} Time: the best of {FLAGS.repeats} calls after "
        f"the compile, glibc keeping freed memory as a caching allocator does; ms / time "
        f"step: the marginal time (time(T) - time(T1)) / (T - T1), T1 = {_short(FLAGS.steps)}, "
        f"which leaves out the per-sequence O(N) setup (zeroing the memory and, for SAM, its "
        f"gradient buffer and index). Peak memory: VmHWM (reset through /proc/self/clear_refs) "
        f"over VmRSS before one call after the compile, TF's plain allocator "
        f"(TF_ENABLE_ONEDNN_OPTS=0; oneDNN's caching one keeps freed buffers resident) over "
        f"glibc malloc mapping every block of 4 KiB or more afresh, free pages given back "
        f"(malloc_trim) before the call; KiB / time step: the marginal peak, what a step keeps "
        f"for the backward pass, (peak(T) - peak(T1)) / (T - T1). "
        f"Dense is skipped where its peak, extrapolated linearly in N from "
        f"the dense runs before, would exceed {FLAGS.max_dense_gib:g} GiB. {results.machine()}: "
        f"NumPy copy {bandwidth / 1e9:.3g} GB/s (read + written), float32 matmul "
        f"{flops / 1e9:.3g} GFLOP/s.\n\n"
    )
    text += results.markdown_table(
        [
            "N",
            "method",
            "ms / training step",
            "ms / time step",
            "peak MiB / training step",
            "KiB / time step",
            "dense time / time",
            "dense memory / memory",
        ],
        _cost_rows(runs),
    )
    text += (
        f"\n\n{_headline(runs)} {_limits(runs, bandwidth)}\n\n"
        f"Picture: `{results.shown_path(plot)}`. This part: {time.perf_counter() - start:.0f} s."
    )
    results.write_block("sam", text)


# ---------------------------------------------------------------- learning part
def _tasks():
    """(title, dataset, options) of copy and associative recall."""
    recall = ("num_bits", "item_len", "min_items", "max_items")
    return (
        ("copy", "copy", {"num_bits": FLAGS.num_bits, "max_len": FLAGS.max_len}),
        ("associative recall", "associative_recall", {n: FLAGS[n].value for n in recall}),
    )


def _hparams(core):
    """`SAMModel` hyper-parameters of core "lsh", "exact" or "dense"."""
    hparams = dict(
        core="sparse" if core in SPARSE else "dense",
        units=FLAGS.learn_units,
        memory_size=FLAGS.learn_memory_size,
        word_size=FLAGS.learn_word_size,
        num_reads=FLAGS.num_reads,
        num_neighbours=FLAGS.num_neighbours,
    )
    return dict(hparams, index=core) if core in SPARSE else hparams


def _first_below(curve, threshold):
    """The first scored step whose test nats per bit are under `threshold`, or "-"."""
    return next((s for s in sorted(curve) if curve[s]["nats_per_target"] < threshold), "-")


def _learn(title, dataset, options):
    """Table rows and the panel of the learning curves of every core on one task."""
    test = tasks.test_batch(dataset, options, FLAGS.test_size)
    rows, curves = [], {}
    for core in FLAGS.cores:
        _, limit, curve = tasks.train(
            "sam",
            _hparams(core),
            dataset,
            options,
            steps=FLAGS.learn_steps,
            seconds=FLAGS.seconds,
            batch_size=FLAGS.batch_size,
            learning_rate=FLAGS.learning_rate,
            test=test,
            every=FLAGS.eval_every,
            jit_compile=FLAGS.jit,
        )
        final = curve[limit.steps]
        rows.append(
            (
                title,
                METHODS[core],
                f"{final['nats_per_target']:.3f}",
                f"{final['bit_errors']:.2f}",
                _first_below(curve, FLAGS.threshold),
                tasks.trained(limit),
            )
        )
        curves[METHODS[core]] = {step: m["nats_per_target"] for step, m in curve.items()}
    return rows, (title, "test nats per bit", curves)


def learning_part(wall):
    """Part 2: trains every core on both tasks, draws the curves, writes block `sam_learning`.

    `wall` is the script's start (`time.perf_counter()`), for the total time in the text.
    """
    start = time.perf_counter()
    rows, panels = [], []
    for title, dataset, options in _tasks():
        task_rows, panel = _learn(title, dataset, options)
        rows += task_rows
        panels.append(panel)
    plot = results.output_path(FLAGS.learning_plot)
    tasks.plot_curves(plot, panels, f"SAM against the dense core (chance: {CHANCE:.3f} nats/bit)")
    tiny = "`--tiny` smoke run, measures nothing. " if FLAGS.tiny else ""
    text = (
        f"{tiny}`SAMModel`, an LSTM controller of {FLAGS.learn_units} units, "
        f"N = {FLAGS.learn_memory_size} words of W = {FLAGS.learn_word_size}, "
        f"{FLAGS.num_reads} read head(s), K = {FLAGS.num_neighbours} for SAM. Copy: 1 to "
        f"{FLAGS.max_len} vectors of {FLAGS.num_bits} bits; associative recall: "
        f"{FLAGS.min_items} to {FLAGS.max_items} items of {FLAGS.item_len} vectors of "
        f"{FLAGS.num_bits} bits. Adam {FLAGS.learning_rate:g} (gradients clipped to norm 1), "
        f"batches of {FLAGS.batch_size}, at most {FLAGS.learn_steps} steps or "
        f"{FLAGS.seconds:.0f} s{', XLA-compiled' * FLAGS.jit}. Test nats per bit (chance "
        f"{CHANCE:.3f}) and bit errors per sequence on {FLAGS.test_size} test sequences, "
        f"scored every {FLAGS.eval_every} steps. {results.machine()}.\n\n"
    )
    text += results.markdown_table(
        (
            "task",
            "core",
            "nats/bit",
            "bit errors / sequence",
            f"first step under {FLAGS.threshold:g} nats/bit",
            "steps / s",
        ),
        rows,
    )
    text += (
        f"\n\nThe paper: SAM learns with comparable data efficiency to the dense models on the "
        f"synthetic tasks. Learning curves: `{results.shown_path(plot)}`. This part: "
        f"{time.perf_counter() - start:.0f} s; the whole script: "
        f"{time.perf_counter() - wall:.0f} s."
    )
    results.write_block("sam_learning", text)


def main(argv):
    del argv
    if FLAGS.one:
        configurations = [one.split(":") for one in FLAGS.one.split(",")]
        print(json.dumps([_run_one(m, int(n), int(t)) for m, n, t in configurations]))
        return
    results.tiny_defaults(
        log2_sizes=["6"],
        graph_log2_sizes=[],  # without XLA the SAM (lsh) rows are graph mode already
        steps=6,
        repeats=1,
        units=8,
        word_size=4,
        input_size=3,
        bandwidth_mib=8,
        learn_units=8,
        learn_memory_size=16,
        learn_word_size=4,
        num_bits=3,
        max_len=2,
        item_len=1,
        max_items=2,
        learn_steps=2,
        jit=False,
        shared_processes=True,
        cores=["lsh", "dense"],
        batch_size=4,
        test_size=8,
        eval_every=1,
    )
    wall = time.perf_counter()
    if "cost" in FLAGS.parts:
        cost_part()
    if "learning" in FLAGS.parts:
        learning_part(wall)


if __name__ == "__main__":
    app.run(main)
