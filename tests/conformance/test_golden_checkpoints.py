"""Every model restores its committed golden checkpoint and reproduces its outputs.

See `golden_checkpoints.py`; regenerate with
`python -m tests.conformance.golden_checkpoints` after a deliberate change.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from tests.conformance import golden_checkpoints, goldens

NAMES = goldens.model_names()
MAX_BYTES = 5 * 1024 * 1024


def test_every_model_has_a_golden_checkpoint_and_they_stay_small():
    assert sorted(os.listdir(golden_checkpoints.DIRECTORY)) == NAMES
    total = sum(
        os.path.getsize(os.path.join(root, f))
        for root, _, files in os.walk(golden_checkpoints.DIRECTORY)
        for f in files
    )
    assert total < MAX_BYTES, f"expected golden checkpoints under 5 MB, got {total} bytes"


@pytest.mark.parametrize("name", NAMES)
def test_golden_checkpoint_restores_with_the_same_outputs(name):
    prefix, _ = golden_checkpoints.paths(name)
    tf.keras.utils.set_random_seed(123)  # Other initial weights than the golden's.
    model = goldens.build(name)
    tf.train.Checkpoint(model=model).read(prefix).assert_consumed()
    inputs, expected = golden_checkpoints.read_expected(name)
    actual = golden_checkpoints.run_signatures(model, inputs)
    assert sorted(actual) == sorted(expected)
    for key, value in expected.items():
        if np.issubdtype(value.dtype, np.floating):
            np.testing.assert_allclose(actual[key], value, rtol=1e-4, atol=1e-5, err_msg=key)
        else:
            np.testing.assert_array_equal(actual[key], value, err_msg=key)
