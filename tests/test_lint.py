"""The whole tree passes `ruff check` and `ruff format --check` (configuration: ruff.toml).

Fix a failure with `.venv/bin/ruff format .` and `.venv/bin/ruff check --fix .` from the
repository root, then by hand for what `--fix` leaves.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).absolute().parent.parent
# The `ruff` executable installed beside this interpreter (the virtualenv's bin/), not the
# resolved symlink's directory.
RUFF = Path(sys.executable).parent / "ruff"


def _ruff(*args):
    assert RUFF.is_file(), f"no ruff beside {sys.executable}: pip install ruff (setup.py [test])"
    assert (ROOT / "ruff.toml").is_file(), f"no ruff.toml in {ROOT}"
    return subprocess.run([str(RUFF), *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_check():
    result = _ruff("check", ".")
    assert result.returncode == 0, f"ruff check .:\n{result.stdout}{result.stderr}"


def test_ruff_format():
    result = _ruff("format", "--check", ".")
    assert result.returncode == 0, (
        f"ruff format --check . (run `ruff format .`):\n{result.stdout}{result.stderr}"
    )
