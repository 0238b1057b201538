"""The shared layer test helper (tests/test_case.py) itself: it passes a correct layer
and catches the mistakes it exists for."""

import numpy as np
import pytest
import tensorflow as tf

from tests.test_case import PACKAGE, run_layer_test, run_serialization_test


@tf.keras.saving.register_keras_serializable(package=PACKAGE)
class _Scale(tf.keras.layers.Layer):
    """y = x * w, with a [channels] weight; `forget` drops `units` from get_config."""

    def __init__(self, units=1, forget=False, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.forget = forget

    def build(self, input_shape):
        self.w = self.add_weight("w", [input_shape[-1]], initializer="ones")
        super().build(input_shape)

    def call(self, inputs, scale=None):
        outputs = inputs * self.w * self.units
        return outputs if scale is None else outputs * scale

    def get_config(self):
        config = {**super().get_config(), "forget": self.forget}
        if not self.forget:
            config["units"] = self.units
        return config


class _Unregistered(tf.keras.layers.Layer):
    pass


def test_helper_passes_a_correct_layer():
    x = np.ones([2, 3], np.float32)
    run_layer_test(
        _Scale, {"units": 2}, x, (2, 3), 1, call_kwargs={"scale": x}, expected_output_data=2 * x
    )


def test_helper_catches_mistakes():
    x = np.ones([2, 3], np.float32)
    with pytest.raises(AssertionError, match="registered"):
        run_serialization_test(_Unregistered())
    with pytest.raises(AssertionError, match="missing 'units'"):
        run_layer_test(_Scale, {"units": 2, "forget": True}, x, (2, 3), 1, run_saving_check=False)
    with pytest.raises(AssertionError, match="expected 2 trainable weights"):
        run_layer_test(_Scale, {}, x, (2, 3), 2, run_saving_check=False)
    with pytest.raises(AssertionError, match="expected shape"):
        run_layer_test(_Scale, {}, x, (2, 4), 1, run_saving_check=False)
