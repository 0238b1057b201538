"""The shared layer test case: one helper every public `tfgen.layers` layer goes through.

After keras-hub's `keras_hub/src/tests/test_case.py` (`run_layer_test`,
`run_serialization_test`), smaller, as plain pytest helpers, and for tf.keras
2.15. `run_layer_test` checks, for one layer class and its constructor
arguments:

1. the config round trip of a fresh instance (`run_serialization_test`),
   and that every constructor argument given appears in `get_config`;
2. a symbolic call on `tf.keras.Input`s, inside a functional model: the
   output shapes (batch dimension None) and the weight counts;
3. an eager call on the data: the exact output shapes, the output dtype,
   and the same outputs from the functional model;
4. `layer_cls.from_config(layer.get_config())`: an equal config and, with
   the weights copied over, the same outputs;
5. a `.keras` round trip of the functional model with
   `tf.keras.models.load_model` and no `custom_objects` (the classes are
   registered Keras serializables): the same outputs;
6. a SavedModel round trip: `tf.saved_model.save` of the functional model
   with a `serving_default` signature, `tf.saved_model.load`: the same
   outputs;
7. one `model.fit` step of the functional model (loss: the mean of every
   output; run eagerly, as step 6 traces the layer in graph mode), which
   must change at least one trainable weight.

Inputs and call arguments:

* `input_data` is one array, or a tuple/list of arrays passed as the first
  call argument (e.g. `(theta, t)`); every array has a leading batch axis
  and becomes one `tf.keras.Input`.
* `call_kwargs` values that are arrays (`np.ndarray` / `tf.Tensor`) are
  batched tensors too (e.g. `label=`, `spatial=`, `global_condition=`) and
  become named `tf.keras.Input`s; any other value (a bool, a Python list
  such as NoisyDense's `noise_seed=[1, 2]`) is passed as a constant.

Outputs are compared with a tolerance, so a stochastic layer must be tested
through a deterministic path (NoisyDense: `noisy=False`, or a fixed
`noise_seed`). An output that is None (GatedPixelCNNBlock's `v_out` with
`vertical_output=False`) is written None in `expected_output_shape` and left
out of the functional model.
"""

import copy
import inspect
import json
import os
import tempfile

import numpy as np
import tensorflow as tf

PACKAGE = "tfgen"
ATOL = 1e-5


def _to_json(value):
    return json.dumps(value, sort_keys=True, default=repr)


def _is_data(value):
    return isinstance(value, (np.ndarray, tf.Tensor))


def _is_shape(value):
    return isinstance(value, (tuple, list, tf.TensorShape)) and all(
        d is None or isinstance(d, (int, np.integer)) for d in value
    )


def _flatten_expected(expected):
    """Leaves of an expected output structure: shapes (tuples of ints) and None."""
    if expected is None or _is_shape(expected):
        return [None if expected is None else tuple(expected)]
    return [leaf for item in expected for leaf in _flatten_expected(item)]


def _flatten_outputs(outputs):
    return tf.nest.flatten(outputs)  # None stays a leaf


def _assert_close(actual, expected, what):
    for index, (a, e) in enumerate(zip(actual, expected)):
        np.testing.assert_allclose(
            np.asarray(a),
            np.asarray(e),
            atol=ATOL,
            rtol=1e-4,
            err_msg=f"{what}: output {index} differs",
        )


def run_serialization_test(instance):
    """Checks that `instance` is a registered serializable whose config round-trips.

    `cls.from_config(instance.get_config())` and
    `deserialize_keras_object(serialize_keras_object(instance))` through JSON,
    without `custom_objects`, must give an instance of the same class with the
    same config (compared as JSON, so tuples and lists are equal) and the same
    attributes.

    Returns:
      The revived instance.
    """
    cls = type(instance)
    name = f"{PACKAGE}>{cls.__name__}"
    assert tf.keras.saving.get_registered_name(cls) == name, (
        f"{cls.__name__}: expected a Keras serializable registered as {name!r} "
        f"(@tf.keras.saving.register_keras_serializable(package={PACKAGE!r})), got "
        f"{tf.keras.saving.get_registered_name(cls)!r}."
    )
    assert tf.keras.saving.get_registered_object(name) is cls
    config = instance.get_config()
    config_json = _to_json(config)
    json.dumps(config)  # the config must be JSON-serialisable as it is

    revived = cls.from_config(config)
    assert _to_json(revived.get_config()) == config_json, f"{cls.__name__}: from_config"
    assert set(dir(revived)) == set(dir(instance)), f"{cls.__name__}: attributes"

    serialized = json.loads(json.dumps(tf.keras.saving.serialize_keras_object(instance)))
    revived = tf.keras.saving.deserialize_keras_object(serialized)
    assert type(revived) is cls, f"{cls.__name__}: deserialized {type(revived).__name__}"
    assert _to_json(revived.get_config()) == config_json, f"{cls.__name__}: deserialize"
    assert set(dir(revived)) == set(dir(instance)), f"{cls.__name__}: attributes"
    return revived


def _check_init_kwargs_in_config(layer_cls, init_kwargs, config):
    """Every constructor argument is in the config, with the given value when plain."""
    signature = inspect.signature(layer_cls.__init__)
    base = inspect.signature(tf.keras.layers.Layer.__init__).parameters
    for name, parameter in signature.parameters.items():
        if name in base or parameter.kind in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
            continue
        assert name in config, f"{layer_cls.__name__}.get_config(): missing {name!r}"
    plain = (bool, int, float, str, np.integer, np.floating)
    for name, value in init_kwargs.items():
        simple = isinstance(value, plain) or (
            isinstance(value, (tuple, list)) and all(isinstance(v, plain) for v in value)
        )
        # A dict is a serialized object (e.g. an initializer given by name).
        if simple and name in config and not isinstance(config[name], dict):
            assert _to_json(config[name]) == _to_json(value), (  # tuples == lists
                f"{layer_cls.__name__}.get_config()[{name!r}]: expected {value!r}, "
                f"got {config[name]!r}"
            )


def _keras_input(value, name):
    value = np.asarray(value)
    return tf.keras.Input(shape=value.shape[1:], dtype=tf.as_dtype(value.dtype), name=name)


@tf.keras.saving.register_keras_serializable(package=PACKAGE)
class CellRNN(tf.keras.layers.RNN):
    """`tf.keras.layers.RNN` for `run_layer_test` on a cell: `run_layer_test(CellRNN, {"cell": c})`.

    Registered under `tfgen` (Keras registers RNN under its own name), with two
    Keras 2.15 quirks of a custom RNN subclass worked around: `RNN.from_config`
    empties the config it is given of "cell" (so it gets a copy), and `.keras`
    loading builds a custom layer from a JSON list, which `RNN.build` takes for
    a list of input shapes (so it gets a TensorShape).
    """

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return super().from_config(copy.deepcopy(config), custom_objects)

    def build_from_config(self, config):
        self.build(tf.TensorShape(config["input_shape"]))


def _mean_loss(y_true, y_pred):
    del y_true
    return tf.reduce_mean(y_pred)


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_data,
    expected_output_shape,
    expected_num_trainable_weights,
    expected_num_non_trainable_weights=0,
    call_kwargs=None,
    expected_output_data=None,
    run_training_check=True,
    run_saving_check=True,
):
    """Runs the shared checks on `layer_cls(**init_kwargs)` (see the module docstring).

    Args:
      layer_cls: a `tf.keras.layers.Layer` subclass.
      init_kwargs: dict of constructor arguments.
      input_data: array [batch, ...], or a tuple/list of them (the first call
        argument).
      expected_output_shape: the output shape (a tuple of ints, batch first)
        or a tuple/list of them for several outputs; None for an output that
        is None.
      expected_num_trainable_weights: int, `len(layer.trainable_weights)`.
      expected_num_non_trainable_weights: int.
      call_kwargs: dict of keyword call arguments; arrays are batched inputs,
        other values constants.
      expected_output_data: optional expected outputs (same structure).
      run_training_check: bool, run one `fit` step (needs trainable weights).
      run_saving_check: bool, the `.keras` and SavedModel round trips.

    Returns:
      The layer (built, after the fit step) and the functional model around it.
    """
    call_kwargs = dict(call_kwargs or {})
    expected_shapes = _flatten_expected(expected_output_shape)
    present = [index for index, shape in enumerate(expected_shapes) if shape is not None]
    flat_data = [np.asarray(x) for x in tf.nest.flatten(input_data)]
    tensor_kwargs = {k: np.asarray(v) for k, v in call_kwargs.items() if _is_data(v)}
    constant_kwargs = {k: v for k, v in call_kwargs.items() if not _is_data(v)}
    batch = flat_data[0].shape[0]
    for name, value in [*enumerate(flat_data), *tensor_kwargs.items()]:
        assert value.ndim >= 1 and value.shape[0] == batch, (
            f"input {name}: expected a leading batch axis of {batch}, got {value.shape}"
        )
    model_data = flat_data + list(tensor_kwargs.values())

    def call(layer, inputs, kwarg_inputs):
        return layer(
            tf.nest.pack_sequence_as(input_data, inputs), **constant_kwargs, **kwarg_inputs
        )

    def check_weight_counts(layer):
        assert len(layer.trainable_weights) == expected_num_trainable_weights, (
            f"{layer_cls.__name__}: expected {expected_num_trainable_weights} trainable "
            f"weights, got {len(layer.trainable_weights)}: "
            f"{[w.name for w in layer.trainable_weights]}"
        )
        assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights, (
            f"{layer_cls.__name__}: expected {expected_num_non_trainable_weights} "
            f"non-trainable weights, got {len(layer.non_trainable_weights)}"
        )

    def check_shapes(outputs, symbolic):
        flat = _flatten_outputs(outputs)
        assert len(flat) == len(expected_shapes), (
            f"{layer_cls.__name__}: expected {len(expected_shapes)} outputs, got {len(flat)}"
        )
        for index, (output, shape) in enumerate(zip(flat, expected_shapes)):
            if shape is None:  # symbolically, a KerasTensor of a NoneTensorSpec
                spec = getattr(output, "type_spec", None)
                assert output is None or type(spec).__name__ == "NoneTensorSpec", (
                    f"{layer_cls.__name__}: output {index}: expected None, got {output}"
                )
                continue
            assert getattr(output, "shape", None) is not None, (
                f"{layer_cls.__name__}: output {index}: expected a tensor, got {output}"
            )
            wanted = (None, *shape[1:]) if symbolic else shape
            assert tuple(output.shape) == wanted, (
                f"{layer_cls.__name__}: output {index}: expected shape {wanted}, got "
                f"{tuple(output.shape)} ({'symbolic' if symbolic else 'eager'} call)"
            )
            assert output.dtype == tf.as_dtype(layer.compute_dtype), (
                f"output {index}: expected dtype {layer.compute_dtype}, got {output.dtype}"
            )

    def present_outputs(outputs):
        flat = _flatten_outputs(outputs)
        return [flat[index] for index in present]

    def as_list(outputs):
        return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]

    # 1. Config round trip of a fresh instance; arguments in the config.
    layer = layer_cls(**init_kwargs)
    run_serialization_test(layer)
    _check_init_kwargs_in_config(layer_cls, init_kwargs, layer.get_config())

    # 2. Symbolic call: a functional model around the layer.
    inputs = [_keras_input(x, f"input_{i}") for i, x in enumerate(flat_data)]
    kwarg_inputs = {k: _keras_input(v, k) for k, v in tensor_kwargs.items()}
    symbolic = call(layer, inputs, kwarg_inputs)
    check_shapes(symbolic, symbolic=True)
    check_weight_counts(layer)
    model_inputs = inputs + list(kwarg_inputs.values())
    model = tf.keras.Model(model_inputs, present_outputs(symbolic), name="layer_test_model")

    def model_outputs(m):
        return as_list(m(model_data if len(model_data) > 1 else model_data[0]))

    # 3. Eager call: exact shapes, and the functional model agrees.
    eager_inputs = [tf.convert_to_tensor(x) for x in flat_data]
    eager_kwargs = {k: tf.convert_to_tensor(v) for k, v in tensor_kwargs.items()}
    eager = call(layer, eager_inputs, eager_kwargs)
    check_shapes(eager, symbolic=False)
    expected = present_outputs(eager)
    _assert_close(model_outputs(model), expected, "functional model vs. eager call")
    if expected_output_data is not None:
        _assert_close(expected, present_outputs(expected_output_data), "expected_output_data")

    # 4. from_config(get_config()) with the weights copied: same config, same outputs.
    config = layer.get_config()
    revived = layer_cls.from_config(config)
    assert _to_json(revived.get_config()) == _to_json(config)
    call(revived, eager_inputs, eager_kwargs)  # builds
    check_weight_counts(revived)
    revived.set_weights(layer.get_weights())
    _assert_close(
        present_outputs(call(revived, eager_inputs, eager_kwargs)),
        expected,
        "from_config(get_config()) with the same weights",
    )

    if run_saving_check:
        with tempfile.TemporaryDirectory() as tmp:
            # 5. .keras round trip, no custom_objects.
            path = os.path.join(tmp, "model.keras")
            model.save(path)
            loaded = tf.keras.models.load_model(path)
            assert type(loaded.get_layer(layer.name)) is layer_cls
            _assert_close(model_outputs(loaded), expected, ".keras round trip")

            # 6. SavedModel round trip through a serving signature.
            names = [x.name for x in model_inputs]
            specs = [
                tf.TensorSpec([None, *x.shape[1:]], x.dtype, name=name)
                for x, name in zip(model_data, names)
            ]

            @tf.function(input_signature=specs)
            def serve(*args):
                outputs = model(list(args) if len(args) > 1 else args[0])
                return {f"output_{i}": y for i, y in enumerate(as_list(outputs))}

            path = os.path.join(tmp, "saved_model")
            tf.saved_model.save(
                model, path, signatures={"serving_default": serve.get_concrete_function()}
            )
            restored = tf.saved_model.load(path)
            signature = restored.signatures["serving_default"]
            results = signature(**{name: tf.constant(x) for name, x in zip(names, model_data)})
            _assert_close(
                [results[f"output_{i}"] for i in range(len(present))],
                expected,
                "SavedModel round trip",
            )

    # 7. One fit step of the functional model changes a weight.
    if run_training_check:
        assert expected_num_trainable_weights > 0, (
            f"{layer_cls.__name__}: a fit step needs trainable weights; pass "
            f"run_training_check=False for a layer without weights."
        )
        # Eagerly: tracing `call` in graph mode is already exercised by the
        # SavedModel export above; a compiled train step would cost ~1 s more.
        model.compile(
            optimizer=tf.keras.optimizers.SGD(0.1),
            loss=[_mean_loss] * len(present),
            run_eagerly=True,
        )
        before = [w.numpy() for w in model.trainable_weights]
        targets = [np.zeros(np.shape(y), np.float32) for y in expected]
        model.fit(
            model_data if len(model_data) > 1 else model_data[0],
            targets if len(targets) > 1 else targets[0],
            batch_size=batch,
            epochs=1,
            verbose=0,
        )
        changed = [
            w.name
            for w, b in zip(model.trainable_weights, before)
            if not np.array_equal(w.numpy(), b)
        ]
        assert changed, f"{layer_cls.__name__}: one fit step changed no weight"
    return layer, model
