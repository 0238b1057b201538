"""Runs SavedModel signatures in a Python process that never imports tfgen.

Shared by the export tests and the conformance suite (an export must load with
`tf.saved_model.load` in a process that never imported tfgen). Starting
Python and importing TensorFlow costs ~4 CPU-seconds, so each pytest worker
starts one such loader process on first use and sends it every SavedModel to
run; after each load it checks that nothing has imported tfgen, `training` or
`export`. `signature_outputs(..., fresh=True)` runs one new process instead.
"""

import atexit
import os
import select
import subprocess
import sys
import tempfile
import textwrap

import numpy as np

TIMEOUT = 300  # seconds for one SavedModel to load and run

# Reads "path<TAB>inputs.npy<TAB>outputs.npy" requests (its arguments, else lines of stdin);
# answers "ok", or "error" with the traceback in outputs.npy.error, per request.
_SCRIPT = textwrap.dedent("""
    import sys, traceback
    import numpy as np
    import tensorflow as tf

    def run(path, inputs_file, outputs_file):
        loaded = tf.saved_model.load(path)
        inputs = np.load(inputs_file, allow_pickle=True).item()
        outputs = {}
        for key, kwargs in inputs.items():
            result = loaded.signatures[key](**{k: tf.constant(v) for k, v in kwargs.items()})
            outputs[key] = {k: v.numpy() for k, v in result.items()}
        np.save(outputs_file, outputs, allow_pickle=True)
        imported = {m.split(".")[0] for m in sys.modules} & {"tfgen", "training", "export"}
        assert not imported, f"the loader process imported {sorted(imported)}"

    for line in sys.argv[1:] or sys.stdin:
        path, inputs_file, outputs_file = line.rstrip("\\n").split("\\t")
        try:
            run(path, inputs_file, outputs_file)
            print("ok", flush=True)
        except BaseException:
            with open(outputs_file + ".error", "w") as handle:
                handle.write(traceback.format_exc())
            print("error", flush=True)
""")

_loader = None


def _environment():
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return env


def _start_loader():
    """The worker's loader process, started in an empty directory (nothing importable there)."""
    global _loader
    if _loader is None or _loader.poll() is not None:
        _loader = subprocess.Popen(
            [sys.executable, "-c", _SCRIPT],
            cwd=tempfile.mkdtemp(prefix="tfgen_loader_"),
            env=_environment(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        atexit.register(_loader.kill)
    return _loader


def _run_in_loader(path, inputs_file, outputs_file):
    loader = _start_loader()
    loader.stdin.write(f"{path}\t{inputs_file}\t{outputs_file}\n")
    loader.stdin.flush()
    if not select.select([loader.stdout], [], [], TIMEOUT)[0]:
        loader.kill()
        raise AssertionError(f"loading {path} in the loader process took over {TIMEOUT} s")
    answer = loader.stdout.readline().strip()
    if answer != "ok":
        error = outputs_file + ".error"
        detail = open(error).read() if os.path.exists(error) else "the loader process died"
        raise AssertionError(f"loading {path} in the loader process failed:\n{detail[-3000:]}")


def _run_fresh(path, inputs_file, outputs_file, workdir):
    request = f"{path}\t{inputs_file}\t{outputs_file}"
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT, request],
        cwd=workdir,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    error = outputs_file + ".error"
    detail = open(error).read() if os.path.exists(error) else result.stderr
    assert result.returncode == 0 and result.stdout.strip() == "ok", detail[-3000:]


def signature_outputs(path, inputs, workdir, fresh=False):
    """`{signature: {output: array}}` of the SavedModel at `path` on `inputs`.

    Args:
      path: a SavedModel directory.
      inputs: `{signature: {input name: numpy array}}`.
      workdir: a scratch directory (a `pathlib.Path`) for the input and output files; with
        `fresh`, also the new process's cwd, so nothing of the repository is importable there.
      fresh: run in a new process rather than the worker's loader process.
    """
    inputs_file, outputs_file = str(workdir / "inputs.npy"), str(workdir / "outputs.npy")
    np.save(inputs_file, inputs, allow_pickle=True)
    if fresh:
        _run_fresh(path, inputs_file, outputs_file, workdir)
    else:
        _run_in_loader(path, inputs_file, outputs_file)
    return np.load(outputs_file, allow_pickle=True).item()


def assert_same_outputs(expected, actual, rtol=1e-5, atol=1e-5):
    """Equal signatures and outputs; integer outputs (samples) must match exactly."""
    assert sorted(expected) == sorted(actual)
    for key in expected:
        assert sorted(expected[key]) == sorted(actual[key]), key
        for name, value in expected[key].items():
            value = np.asarray(value)
            if np.issubdtype(value.dtype, np.integer):  # Same seed -> the same sample.
                np.testing.assert_array_equal(actual[key][name], value, err_msg=f"{key}/{name}")
            else:
                np.testing.assert_allclose(
                    actual[key][name], value, rtol=rtol, atol=atol, err_msg=f"{key}/{name}"
                )
