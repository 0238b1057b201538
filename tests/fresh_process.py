"""Runs SavedModel signatures in a fresh Python process that never imports tfgen.

Shared by the export tests and the conformance suite (an export must
load with `tf.saved_model.load` in a process that never imported tfgen).
"""

import os
import subprocess
import sys
import textwrap

import numpy as np

_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import tensorflow as tf
    path, inputs_file, outputs_file = sys.argv[1:]
    loaded = tf.saved_model.load(path)
    inputs = np.load(inputs_file, allow_pickle=True).item()
    outputs = {}
    for key, kwargs in inputs.items():
        result = loaded.signatures[key](**{k: tf.constant(v) for k, v in kwargs.items()})
        outputs[key] = {k: v.numpy() for k, v in result.items()}
    np.save(outputs_file, outputs, allow_pickle=True)
    imported = {m.split(".")[0] for m in sys.modules} & {"tfgen", "training", "export"}
    assert not imported, f"the fresh process imported {sorted(imported)}"
""")


def signature_outputs(path, inputs, workdir):
    """`{signature: {output: array}}` of the SavedModel at `path` on `inputs`.

    Args:
      path: a SavedModel directory.
      inputs: `{signature: {input name: numpy array}}`.
      workdir: a scratch directory (a `pathlib.Path`), also the process's cwd,
        so nothing of the repository is importable there.
    """
    np.save(workdir / "inputs.npy", inputs, allow_pickle=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _SCRIPT,
            path,
            str(workdir / "inputs.npy"),
            str(workdir / "outputs.npy"),
        ],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return np.load(workdir / "outputs.npy", allow_pickle=True).item()


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
