"""The conformance suite (DESIGN 8): every registered model, the same checks.

A new model is covered by registering it in `tfgen.registry`: config round
trip, checkpoint round trip, SavedModel export -> load in a fresh process that
never imports tfgen -> same outputs, `jit_compile` -> same outputs, and one
`fit` step under `MirroredStrategy`.
"""

import json

import numpy as np
import pytest
import tensorflow as tf

import export
from tests import fresh_process
from tfgen import data, registry

NAMES = registry.names()


def _build(name, **overrides):
    entry = registry.get(name)
    hparams = {**entry.test_hparams, **overrides}
    return registry.build(name, hparams, entry.test_dataset, entry.test_dataset_options)


def _run_signatures(model, jit_compile=False):
    """Calls every export signature on fixed example inputs."""
    results = {}
    for key, signature in model.signatures(jit_compile=jit_compile).items():
        inputs = model.signature_inputs(signature)
        results[key] = (inputs, {k: v.numpy() for k, v in signature(**inputs).items()})
    return results


def _outputs(results):
    return {key: outputs for key, (_, outputs) in results.items()}


def test_registry_is_not_empty():
    assert "pixelcnn" in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trip(name):
    model = _build(name)
    config = model.get_config()
    json.dumps(config)  # Configs are plain JSON: the training CLI writes them to disk.
    clone = type(model).from_config(json.loads(json.dumps(config)))
    assert clone.get_config() == config
    entry = registry.get(name)
    assert set(entry.signatures) == set(model.signatures())


@pytest.mark.parametrize("name", NAMES)
def test_checkpoint_round_trip(name, tmp_path):
    model = _build(name)
    expected = _outputs(_run_signatures(model))
    path = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
    clone = type(model).from_config(model.get_config())
    clone(clone.example_features())
    tf.train.Checkpoint(model=clone).restore(path).assert_existing_objects_matched()
    fresh_process.assert_same_outputs(expected, _outputs(_run_signatures(clone)))


@pytest.mark.parametrize("name", NAMES)
def test_export_loads_in_fresh_process(name, tmp_path):
    model = _build(name)
    results = _run_signatures(model)
    path = export.export_model(model, str(tmp_path / name))
    inputs = {key: {k: v.numpy() for k, v in kwargs.items()} for key, (kwargs, _) in results.items()}
    actual = fresh_process.signature_outputs(path, inputs, tmp_path)
    fresh_process.assert_same_outputs(_outputs(results), actual)


@pytest.mark.parametrize("name", NAMES)
def test_jit_compile_gives_same_outputs(name):
    model = _build(name)
    expected = _run_signatures(model)
    compiled = {}
    for key, signature in model.signatures(jit_compile=True).items():
        inputs = expected[key][0]
        xla = tf.function(signature.python_function, jit_compile=True)
        compiled[key] = {k: v.numpy() for k, v in xla(**inputs).items()}
    fresh_process.assert_same_outputs(_outputs(expected), compiled, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_fit_step_under_mirrored_strategy(name):
    entry = registry.get(name)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model = _build(name)
        model.compile(tf.keras.optimizers.Adam(1e-3))
    dataset = data.load(entry.test_dataset, "train", batch_size=4, **entry.test_dataset_options)
    history = model.fit(dataset.take(1), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert int(model.optimizer.iterations.numpy()) == 1
