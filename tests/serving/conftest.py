"""Fixtures for the serving tests: tiny SavedModels and a server subprocess.

The SavedModels are built here (not from tfgen) with a ``tf.Module`` whose
outputs reveal the version that answered:

* ``serving_default(x: float32 [None, 3]) -> {"y": x * [1, 2, 3] + version}``
* ``second(a: int64 [None], s: string [None]) -> {"a2": a * 2, "n": strlen(s), "v": version}``
* ``check(x: float32 [None]) -> {"z": x}``, failing at run time when x < 0.

The server always runs as ``python -m serving`` in a subprocess bound to
127.0.0.1 and is reached only through ``tensorflow_serving.apis`` stubs and
HTTP.
"""

import os
import shutil
import time

import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2

from serving.process import ServerProcess  # noqa: F401  (re-exported for the tests)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WEIGHTS = (1.0, 2.0, 3.0)


class _ToyModule(tf.Module):
    def __init__(self, version):
        super().__init__()
        self.w = tf.Variable(WEIGHTS, dtype=tf.float32)
        self.v = tf.Variable(float(version), dtype=tf.float32)

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
    def serve(self, x):
        return {"y": x * self.w + self.v}

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.int64, name="a"),
            tf.TensorSpec([None], tf.string, name="s"),
        ]
    )
    def second(self, a, s):
        batch = tf.shape(a)[0]
        return {"a2": a * 2, "n": tf.strings.length(s), "v": tf.fill([batch], self.v)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    def check(self, x):
        with tf.control_dependencies(
            [tf.debugging.assert_non_negative(x, message="x must be non-negative")]
        ):
            return {"z": tf.identity(x)}


def write_saved_model(path, version):
    """Writes the toy SavedModel whose outputs carry ``version`` to ``path``."""
    module = _ToyModule(version)
    tf.saved_model.save(
        module,
        path,
        signatures={
            "serving_default": module.serve,
            "second": module.second,
            "check": module.check,
        },
    )
    return path


def install_version(base, version, source):
    """Copies a prepared SavedModel to ``base/version`` atomically (stage + rename)."""
    staging = os.path.join(base, f".tmp-{version}")
    shutil.copytree(source, staging)
    os.rename(staging, os.path.join(base, str(version)))


@pytest.fixture(scope="session")
def saved_models(tmp_path_factory):
    """Prepared SavedModels for versions 1..4 (not under any served base path)."""
    root = tmp_path_factory.mktemp("prepared")
    return {v: write_saved_model(str(root / f"v{v}"), v) for v in (1, 2, 3, 4)}


def predict_request(inputs, name="toy", signature_name="", version=None, output_filter=()):
    """A ``PredictRequest`` for ``inputs`` ({key: array}) of model ``name``."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = version
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    request.output_filter.extend(output_filter)
    return request


def wait_until(predicate, timeout=60.0, interval=0.1, message="condition"):
    """Polls ``predicate`` until it returns a truthy value or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(interval)


@pytest.fixture
def server_factory():
    """Factory fixture: ``server_factory(*flags)`` starts a ServerProcess.

    Each server must exit 0 at teardown.
    """
    started = []

    def start(*flags, rest=False):
        server = ServerProcess(*flags, rest=rest)
        started.append(server)
        return server

    yield start
    for server in started:
        assert server.terminate() == 0, server.output()
