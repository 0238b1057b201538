"""Shared by the bench scripts: timing and writing tables into docs/RESULTS.md.

Each script prints its table and owns one block of RESULTS.md between `<!-- bench:NAME -->` and
`<!-- /bench:NAME -->`; re-running the script replaces only that block.
"""

import os
import platform
import re
import time

import numpy as np
from absl import flags

flags.DEFINE_bool("write", True, "Write the table into docs/RESULTS.md (--nowrite only prints it).")

RESULTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs",
                       "RESULTS.md")


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


def markdown_table(header, rows):
    """A GitHub markdown table from a header tuple and rows of cells."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def machine():
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def write_block(name, text, path=RESULTS):
    """Prints `text` and, unless `--nowrite`, replaces the `bench:name` block of RESULTS.md.

    The block is appended when RESULTS.md has none.
    """
    print(text)
    if not flags.FLAGS.write:
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
