"""Golden checkpoints: a committed checkpoint per model and its expected outputs.

For every model in `goldens.GOLDENS`, `checkpoints/<name>/` holds a
`tf.train.Checkpoint(model=...)` of the model at its golden size and
`expected.npz`, the inputs and outputs of each export signature on fixed
inputs. `test_golden_checkpoints.py` restores them in `make test`, so a
renamed variable or a change of numerics breaks a test rather than users'
checkpoints and exports (the habit of Sonnet's `checkpoint_test.py`).

Regenerate them, after a deliberate change, with

    python -m tests.conformance.golden_checkpoints [--names pixelcnn,wavenet]
"""

import os
import shutil

import numpy as np
import tensorflow as tf
from absl import app, flags

from tests.conformance import goldens

DIRECTORY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "checkpoints")
PREFIX = "ckpt"
EXPECTED = "expected.npz"


def paths(name):
    """(checkpoint prefix, expected-outputs path) of model `name`."""
    return os.path.join(DIRECTORY, name, PREFIX), os.path.join(DIRECTORY, name, EXPECTED)


def run_signatures(model, inputs):
    """`{"signature/output": array}` of every export signature on `inputs` (as `write` keys)."""
    outputs = {}
    for key, signature in model.signatures().items():
        kwargs = {
            arg[len(key) + 1 :]: tf.constant(value)
            for arg, value in inputs.items()
            if arg.startswith(key + "/")
        }
        for output, value in signature(**kwargs).items():
            outputs[f"{key}/{output}"] = value.numpy()
    return outputs


def write(name, seed=0):
    """Builds `name` at its golden size with seeded weights; writes checkpoint and outputs."""
    tf.keras.utils.set_random_seed(seed)
    model = goldens.build(name)
    inputs = {}
    for key, signature in model.signatures().items():
        for arg, value in goldens.signature_inputs(model, signature, seed=seed).items():
            inputs[f"{key}/{arg}"] = value.numpy()
    prefix, expected = paths(name)
    shutil.rmtree(os.path.dirname(prefix), ignore_errors=True)
    os.makedirs(os.path.dirname(prefix))
    tf.train.Checkpoint(model=model).write(prefix)
    np.savez(
        expected,
        **{f"input:{k}": v for k, v in inputs.items()},
        **{f"output:{k}": v for k, v in run_signatures(model, inputs).items()},
    )
    return prefix


def read_expected(name):
    """(inputs, outputs) dicts keyed `"signature/name"` from `expected.npz`."""
    with np.load(paths(name)[1]) as arrays:
        inputs = {k[len("input:") :]: arrays[k] for k in arrays.files if k.startswith("input:")}
        outputs = {k[len("output:") :]: arrays[k] for k in arrays.files if k.startswith("output:")}
    return inputs, outputs


FLAGS = flags.FLAGS
flags.DEFINE_list("names", None, "Models to regenerate; default: every golden.")


def main(argv):
    del argv
    for name in FLAGS.names or sorted(goldens.GOLDENS):
        print(f"wrote {write(name)}", flush=True)
    total = sum(
        os.path.getsize(os.path.join(root, f))
        for root, _, files in os.walk(DIRECTORY)
        for f in files
    )
    print(f"golden checkpoints: {total / 1e6:.2f} MB in all")


if __name__ == "__main__":
    app.run(main)
