"""Shared pytest set-up: quiet TensorFlow, small thread pools, fixed seeds."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    tf.keras.utils.set_random_seed(0)
    yield
    tf.keras.backend.clear_session()


def pytest_configure(config):
    # Keras 2.15 seeds initialisers with random.randint(1, 1e9): a float bound.
    config.addinivalue_line(
        "filterwarnings", "ignore:non-integer arguments to randrange:DeprecationWarning")
