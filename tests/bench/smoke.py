"""Runs a bench script at its tiny size and reads back the tables it prints.

Each `bench/NAME.py` is paired with `tests/bench/test_NAME.py` (in the habit of
tf-agents' `train_eval.py` / `train_eval_test.py`): the test runs
`python -m bench.NAME --tiny --nowrite ...` in a subprocess (each script defines
its own absl flags, several with the same names, so they cannot share one
process) and checks what the script computed and wrote. No timings are
asserted: a tiny run measures nothing.
"""

import dataclasses
import math
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).absolute().parent.parent.parent
DOCS = ROOT / "docs"
_NUMBER = re.compile(r"nan|[-+]?(?:\d[\d,]*\.?\d*|\.\d+)(?:e[-+]?\d+)?", re.IGNORECASE)


@dataclasses.dataclass
class Table:
    """A markdown table from a script's output: header cells and rows of cells (strings)."""

    header: list
    rows: list

    def column(self, name):
        index = self.header.index(name)
        return [row[index] for row in self.rows]


def _docs_snapshot():
    return {
        str(path.relative_to(DOCS)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(DOCS.rglob("*"))
        if path.is_file()
    }


def run(name, *flags, timeout=600):
    """Runs `python -m bench.NAME --tiny --nowrite *flags` from the repository root.

    Asserts that it exits with 0 and that it changed nothing under docs/.

    Returns:
      The script's stdout.
    """
    before = _docs_snapshot()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    result = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", "--tiny", "--nowrite", *map(str, flags)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, (
        f"bench.{name} exited with {result.returncode}\n--- stdout:\n{result.stdout[-3000:]}"
        f"\n--- stderr:\n{result.stderr[-6000:]}"
    )
    after = _docs_snapshot()
    changed = sorted(
        key for key in before.keys() | after.keys() if before.get(key) != after.get(key)
    )
    assert not changed, f"bench.{name} --tiny changed files under docs/: {changed}"
    return result.stdout


def _cells(line):
    # Cells are split at pipes that are not escaped (`q(z\|x)` is one cell).
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def tables(text):
    """The markdown tables in `text`, in order."""
    found, block = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            block.append(line)
            continue
        if block:
            assert len(block) >= 2 and set(block[1]) <= set("|-: "), block[:2]
            found.append(Table(_cells(block[0]), [_cells(row) for row in block[2:]]))
            block = []
    return found


def numbers(cell):
    """The numbers in a cell: `"1,109"` -> [1109.0], `"0.982 / 1.099"` -> [0.982, 1.099]."""
    return [float(match.replace(",", "")) for match in _NUMBER.findall(cell)]


def number(cell, low=-math.inf, high=math.inf):
    """The one number in `cell` (a `%` or `x` suffix allowed), checked finite and in range."""
    values = numbers(cell)
    assert len(values) == 1, f"expected one number, got {cell!r}"
    assert math.isfinite(values[0]) and low <= values[0] <= high, (
        f"expected a finite number in [{low}, {high}], got {cell!r}"
    )
    return values[0]


def assert_png(path):
    path = Path(path)
    assert path.is_file(), f"{path} was not written"
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000, (path, len(data))
