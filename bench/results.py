"""Shared by the bench scripts: timing, writing tables into docs/RESULTS.md, `--tiny` runs.

Each script prints its table and owns one block of RESULTS.md between `<!-- bench:NAME -->` and
`<!-- /bench:NAME -->`; re-running the script replaces only that block.

Every script also takes `--tiny`: tiny models, few steps, small batches, short lengths, a smoke
run that checks the script end to end and measures nothing (tests/bench/ runs each one so). A
tiny run prints its table but never writes it into RESULTS.md, and writes its images and WAVs
into a temporary directory instead of docs/ (`output_path`); flags given on the command line
override the tiny values (`tiny_defaults`).
"""

import os
import platform
import re
import tempfile
import time

import numpy as np
import tensorflow as tf
from absl import flags

flags.DEFINE_bool("write", True, "Write the table into docs/RESULTS.md (--nowrite only prints it).")
flags.DEFINE_bool(
    "tiny",
    False,
    "A smoke run at tiny sizes: checks the script, measures nothing; "
    "prints the table, writes nothing under docs/.",
)

FLAGS = flags.FLAGS
DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")
RESULTS = os.path.join(DOCS, "RESULTS.md")


def tiny_defaults(**values):
    """In a `--tiny` run, sets each flag named in `values` that the command line did not set."""
    if not FLAGS.tiny:
        return
    for name, value in values.items():
        if not FLAGS[name].present:
            FLAGS[name].value = value


def in_docs(path):
    """Whether `path` is docs/ or under it."""
    return os.path.commonpath([os.path.abspath(path), DOCS]) == DOCS


def output_path(path):
    """`path`, except that in a `--tiny` run a path under docs/ moves to a temporary directory."""
    path = os.path.abspath(path)
    if FLAGS.tiny and in_docs(path):
        path = os.path.join(tempfile.gettempdir(), "tfgen_bench_tiny", os.path.relpath(path, DOCS))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


def shown_path(path):
    """`path` as the text of a table shows it: relative to the repository root if inside it."""
    root = os.path.dirname(DOCS)
    path = os.path.abspath(path)
    return os.path.relpath(path, root) if os.path.commonpath([path, root]) == root else path


def time_calls(fn, repeats, warmup=1):
    """Calls `fn` `warmup` times untimed, then `repeats` times; returns seconds per call."""
    for _ in range(warmup):
        fn()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return np.asarray(seconds)


def proc_status(field, pid="self"):
    """A memory field of `/proc/PID/status` (`VmRSS`, `VmHWM`) in bytes (Linux).

    Args:
      field: the field's name.
      pid: a process id, or "self" (this process).

    Raises:
      ValueError: the file has no such field.
    """
    path = f"/proc/{pid}/status"
    with open(path, encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise ValueError(f"{path}: expected a {field} line, found none.")


class TimeLimit(tf.keras.callbacks.Callback):
    """Stops `fit` after `seconds` of training (None: no cap); counts the steps and the time."""

    def __init__(self, seconds=None):
        super().__init__()
        self.seconds = seconds
        self.steps = 0

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.seconds is not None and time.perf_counter() - self.start > self.seconds:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        self.elapsed = time.perf_counter() - self.start


def pyplot():
    """`matplotlib.pyplot` on the Agg backend: the benches only write PNG files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path):
    """Writes `fig` to `path` as a 100-dpi PNG and closes it."""
    fig.savefig(path, dpi=100)
    pyplot().close(fig)


def markdown_table(header, rows):
    """A GitHub markdown table from a header tuple and rows of cells."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def machine():
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def write_block(name, text, path=RESULTS):
    """Prints `text` and, unless `--nowrite` or `--tiny`, replaces the `bench:name` block.

    The block is appended when RESULTS.md has none.
    """
    print(text, flush=True)
    if not FLAGS.write or FLAGS.tiny:
        return
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{begin}\n{text.strip()}\n{end}"
    content = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.DOTALL)
    if pattern.search(content):
        content = pattern.sub(lambda _: block, content)
    else:
        content = content.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(content)
