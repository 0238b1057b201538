"""ModelManager: what a version leaves behind in the process once it is unloaded."""

import shutil

import numpy as np
import tensorflow as tf
from tensorflow.python.framework import ops

from serving.model_manager import ModelConfig, ModelManager
from tests.serving.conftest import install_version


@tf.custom_gradient
def _clipped_identity(x):
    return tf.identity(x), lambda dy: tf.clip_by_value(dy, -1.0, 1.0)


class _CustomGradientModule(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    def serve(self, x):
        return {"y": _clipped_identity(x)}


def test_unloaded_versions_leave_no_custom_gradients_registered(tmp_path):
    # tf.saved_model.load registers a SavedModel's custom gradients in TF's global registry,
    # where they would keep every version ever loaded in memory.
    source = str(tmp_path / "source")
    module = _CustomGradientModule()
    tf.saved_model.save(module, source, signatures={"serving_default": module.serve})
    base = tmp_path / "toy"
    base.mkdir()
    registry = ops._gradient_registry._registry
    before = set(registry)
    manager = ModelManager([ModelConfig("toy", str(base))], poll_wait_seconds=0)

    install_version(str(base), 1, source)
    manager.poll_once()
    first = set(registry) - before
    assert first, "loading the version registered no gradient: the test checks nothing"

    install_version(str(base), 2, source)
    manager.poll_once()
    second = set(registry) - before
    assert manager.get("toy").version == 2
    assert second and not second & first  # Version 1's entries went with it.
    _, outputs = manager.get("toy").predict("serving_default", {"x": np.float32([1, 2])})
    np.testing.assert_array_equal(outputs["y"], [1, 2])

    shutil.rmtree(base / "1")
    shutil.rmtree(base / "2")
    manager.poll_once()  # Every version removed from disk: nothing served.
    assert set(registry) == before
