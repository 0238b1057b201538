"""The conformance suite: every registered model, the same checks.

A new model is covered by registering it in `tfgen.registry` and giving it a
row in `goldens.py`: one source of hyper-parameters, config round trip,
Keras-native saving (`.keras`, `save_weights`), `summary()` after
`registry.build`, checkpoint round trip, SavedModel export -> load in a fresh
process that never imports tfgen -> same outputs, served -> every hostile
request answered with a client's status (`hostile_requests`), `jit_compile`
-> same outputs, and one `fit` step under `MirroredStrategy`.

The export and serving checks of a model share one export: they run in one
xdist group (`--dist loadgroup`), so one worker exports each model once.
"""

import functools
import inspect
import json
import os

import numpy as np
import pytest
import tensorflow as tf

import export
import tfgen.models
from tests import fresh_process
from tests.conformance import goldens, hostile_requests
from tfgen import hparams, registry

NAMES = goldens.model_names()
# The export-and-serve checks of one model run on one worker, which exports it once.
EXPORT_GROUPS = [pytest.param(name, marks=pytest.mark.xdist_group(name)) for name in NAMES]
# Synonyms the naming glossary (README) replaced, with the word to use instead.
RETIRED_NAMES = {
    "num_classes": "num_labels, num_levels or num_categories",
    "num_bins": "num_levels",
    "vocab_size": "num_categories",
    "num_mixtures": "num_components",
    "num_blocks": "num_layers",
    "train_steps": "loss_steps",
}


def _run_signatures(model, jit_compile=False):
    """Calls every export signature on fixed example inputs."""
    results = {}
    for key, signature in model.signatures(jit_compile=jit_compile).items():
        inputs = goldens.signature_inputs(model, signature)
        results[key] = (inputs, {k: v.numpy() for k, v in signature(**inputs).items()})
    return results


def _outputs(results):
    return {key: outputs for key, (_, outputs) in results.items()}


def _blank_clone(model):
    """A model of the same config whose every variable is zero, so a restore must fill it."""
    clone = type(model).from_config(model.get_config()).build_example()
    for variable in clone.weights:
        variable.assign(tf.zeros_like(variable))
    return clone


def _assert_same_weights(model, clone):
    """Same config and same variable values, in order: the two compute the same signatures."""
    assert clone.get_config() == model.get_config()
    assert len(clone.weights) == len(model.weights) > 0
    for expected, actual in zip(model.weights, clone.weights):
        np.testing.assert_array_equal(actual.numpy(), expected.numpy(), err_msg=expected.name)


@functools.lru_cache(maxsize=None)
def _golden(name):
    """The golden-size model and `_run_signatures` of it, built once per test process.

    Tests only read it (they save, export or copy it), so sharing it saves a build and a
    trace of every signature per test.
    """
    model = goldens.build(name)
    return model, _run_signatures(model)


def test_goldens_cover_the_registry():
    assert "pixelcnn" in NAMES
    assert sorted(goldens.GOLDENS) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_hyper_parameters_have_one_source(name):
    """registry defaults == constructor defaults == `get_config()` keys and values."""
    entry = registry.get(name)
    signature = inspect.signature(entry.model_class.__init__)
    constructor = {
        key: p.default
        for key, p in signature.parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    assert dict(entry.hparams) == constructor
    assert entry.model_class().get_config() == hparams.to_json(constructor)
    assert set(_golden(name)[0].get_config()) == set(constructor)
    assert set(goldens.GOLDENS[name].hparams) <= set(constructor)


@pytest.mark.parametrize("name", NAMES)
def test_public_class_and_glossary_names(name):
    entry = registry.get(name)
    assert getattr(tfgen.models, entry.model_class.__name__) is entry.model_class
    for key in entry.hparams:
        assert key not in RETIRED_NAMES, f"{name}: expected {RETIRED_NAMES.get(key)}, got {key}"


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trip(name):
    model = _golden(name)[0]
    config = model.get_config()
    json.dumps(config)  # Configs are plain JSON: the training CLI writes them to disk.
    clone = type(model).from_config(json.loads(json.dumps(config)))
    assert clone.get_config() == config
    entry = registry.get(name)
    assert set(entry.signatures) == set(model.signatures())


@pytest.mark.parametrize("name", NAMES)
def test_summary_right_after_build(name):
    lines = []
    registry.build(name).summary(print_fn=lines.append)
    assert any("Total params" in line for line in lines)


@pytest.mark.parametrize("name", NAMES)
def test_keras_native_saving(name, tmp_path):
    """`model.save(.keras)` -> `load_model` (no custom_objects) -> same outputs; weights too."""
    model, results = _golden(name)
    expected = _outputs(results)
    path = str(tmp_path / f"{name}.keras")
    model.save(path)
    loaded = tf.keras.models.load_model(path)
    assert type(loaded) is type(model)
    _assert_same_weights(model, loaded)
    fresh_process.assert_same_outputs(expected, _outputs(_run_signatures(loaded)))
    for weights_path in (str(tmp_path / "tf_weights"), str(tmp_path / "w.weights.h5")):
        model.save_weights(weights_path)
        clone = _blank_clone(model)
        clone.load_weights(weights_path)
        _assert_same_weights(model, clone)


@pytest.mark.parametrize("name", NAMES)
def test_checkpoint_round_trip(name, tmp_path):
    """A checkpoint of the model restores whole through `export.load_trained`, as the CLI does."""
    model, golden = _golden(name)[0], goldens.GOLDENS[name]
    path = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
    restored = export.load_trained(
        path, name, golden.hparams, golden.dataset, golden.dataset_options
    )
    _assert_same_weights(model, restored)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """`exported(name)`: the base path of `_golden(name)` exported as version 1.

    Each model is exported once per test process, under `hostile_requests.LIMITS`.
    """
    root = tmp_path_factory.mktemp("exports")

    @functools.lru_cache(maxsize=None)
    def export_once(name):
        base = str(root / name)
        export.export_model(_golden(name)[0], base, version=1, limits=hostile_requests.LIMITS)
        return base

    return export_once


@pytest.mark.parametrize("name", EXPORT_GROUPS)
def test_export_loads_in_fresh_process(name, exported, tmp_path):
    _, results = _golden(name)
    path = os.path.join(exported(name), "1")
    inputs = {
        key: {k: v.numpy() for k, v in kwargs.items()} for key, (kwargs, _) in results.items()
    }
    actual = fresh_process.signature_outputs(path, inputs, tmp_path)
    fresh_process.assert_same_outputs(_outputs(results), actual)


@pytest.mark.parametrize("name", EXPORT_GROUPS)
def test_served_signatures_answer_hostile_requests_with_client_statuses(name, exported):
    """Random and malformed requests to every signature get a client's status; it stays up."""
    hostile_requests.fuzz_model(name, exported(name))


@pytest.mark.parametrize("name", NAMES)
def test_jit_compile_gives_same_outputs(name):
    model, expected = _golden(name)
    compiled = {}
    for key, signature in model.signatures(jit_compile=True).items():
        inputs = expected[key][0]
        xla = tf.function(signature.python_function, jit_compile=True)
        compiled[key] = {k: v.numpy() for k, v in xla(**inputs).items()}
    fresh_process.assert_same_outputs(_outputs(expected), compiled, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_fit_step_under_mirrored_strategy(name):
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model = goldens.build(name)
        model.compile(tf.keras.optimizers.Adam(1e-3))
    history = model.fit(goldens.load_dataset(name).take(1), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert int(model.optimizer.iterations.numpy()) == 1
    # The optimizer's slots exist before the first step, so `fit` traces train_step once.
    assert model.train_function.experimental_get_tracing_count() == 1
