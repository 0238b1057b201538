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
    # The few tests that take over ~25 s on 2 cores (whole training runs, CLI subprocesses).
    # `make test` runs them; `pytest -m "not slow"` leaves them out while iterating.
    config.addinivalue_line(
        "markers", "slow: a test that takes over ~25 s on 2 cores; deselect with -m 'not slow'"
    )
    # Keras 2.15 seeds initialisers with random.randint(1, 1e9): a float bound.
    config.addinivalue_line(
        "filterwarnings", "ignore:non-integer arguments to randrange:DeprecationWarning"
    )
