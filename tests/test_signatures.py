"""Exported signatures refuse inputs the model cannot answer, before any work starts."""

import re

import numpy as np
import pytest
import tensorflow as tf

from tfgen.signatures import SignatureLimits, signature_function, signature_limits

LIMITS = SignatureLimits(max_examples=4, max_count=10, max_work=20)


def _density_and_sample():
    """A toy model's `density(image, label, temperature)` and `sample(num_samples, steps)`."""
    calls = tf.Variable(0)

    # The work counts its calls; it reads the inputs, as every model's work does, so it
    # must wait for the checks and never run when one fails.
    def density(image, label, temperature):
        calls.assign_add(tf.minimum(tf.size(label), 1))
        return {"score": tf.reduce_sum(image, [1, 2]) + label + tf.cast(temperature, tf.int32)}

    def sample(num_samples, steps):
        calls.assign_add(tf.minimum(num_samples, 1))
        return {"image": tf.zeros([num_samples, steps], tf.int32)}

    density_specs = [
        tf.TensorSpec([None, 2, 2], tf.int32, name="image"),
        tf.TensorSpec([None], tf.int32, name="label"),
        tf.TensorSpec([], tf.float32, name="temperature"),
    ]
    sample_specs = [
        tf.TensorSpec([], tf.int32, name="num_samples"),
        tf.TensorSpec([], tf.int32, name="steps"),
    ]
    with signature_limits(LIMITS):
        density_fn = signature_function(density, density_specs, {"image": (0, 3), "label": (0, 9)})
        sample_fn = signature_function(sample, sample_specs)
    return density_fn, sample_fn, calls


@pytest.fixture(scope="module")
def toy():
    return _density_and_sample()


def _density_inputs(batch=2, label_batch=None, image_value=1, label=3, temperature=1.0):
    return {
        "image": tf.fill([batch, 2, 2], image_value),
        "label": tf.fill([batch if label_batch is None else label_batch], label),
        "temperature": tf.constant(temperature),
    }


def test_valid_inputs_run(toy):
    density, sample, _ = toy
    np.testing.assert_array_equal(density(**_density_inputs())["score"], [8, 8])
    assert sample(num_samples=4, steps=5)["image"].shape == (4, 5)


@pytest.mark.parametrize(
    "inputs, message",
    [
        (_density_inputs(image_value=4), "input `image` in [0, 3]"),
        (_density_inputs(image_value=-1), "input `image` in [0, 3]"),
        (_density_inputs(label=10), "input `label` in [0, 9]"),
        (_density_inputs(label_batch=3), "input `label` to have the batch size of `image`"),
        (_density_inputs(batch=5), "batch size of at most 4"),
        (_density_inputs(temperature=0.0), "input `temperature` to be positive"),
        (_density_inputs(temperature=float("nan")), "input `temperature` to be finite"),
        (_density_inputs(temperature=float("inf")), "input `temperature` to be finite"),
    ],
)
def test_bad_density_inputs_are_refused_before_the_work(toy, inputs, message):
    density, _, calls = toy
    before = calls.numpy()
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(message)):
        density(**inputs)
    assert calls.numpy() == before


@pytest.mark.parametrize(
    "num_samples, steps, message",
    [
        (0, 1, "input `num_samples` in [1, 4]"),
        (5, 1, "input `num_samples` in [1, 4]"),
        (2_000_000, 1, "input `num_samples` in [1, 4]"),
        (1, 0, "input `steps` in [1, 10]"),
        (1, 11, "input `steps` in [1, 10]"),
        (3, 7, "examples times steps to be at most 20"),
    ],
)
def test_work_beyond_the_limits_is_refused(toy, num_samples, steps, message):
    _, sample, calls = toy
    before = calls.numpy()
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(message)):
        sample(num_samples=num_samples, steps=steps)
    assert calls.numpy() == before


def test_limits_survive_saving_outside_their_context(tmp_path, toy):
    density, sample, _ = toy
    module = tf.Module()
    module.calls = toy[2]
    tf.saved_model.save(module, str(tmp_path), signatures={"density": density, "sample": sample})
    loaded = tf.saved_model.load(str(tmp_path)).signatures
    assert loaded["sample"](num_samples=tf.constant(2), steps=tf.constant(3))["image"].shape == (
        2,
        3,
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="examples times steps"):
        loaded["sample"](num_samples=tf.constant(4), steps=tf.constant(6))
    with pytest.raises(tf.errors.InvalidArgumentError, match="input `label`"):
        loaded["density"](**_density_inputs(label=-1))


def test_a_count_with_a_value_range_is_not_work():
    fn = signature_function(
        lambda steps: {"steps": steps + 0},
        [tf.TensorSpec([], tf.int32, name="steps")],
        {"steps": (0, 100)},
    )
    assert fn(steps=0)["steps"] == 0
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape("`steps` in [0, 100]")):
        fn(steps=101)


def test_bad_arguments():
    with pytest.raises(ValueError, match="value_ranges for inputs of the signature"):
        signature_function(lambda x: x, [tf.TensorSpec([], tf.int32, name="x")], {"y": (0, 1)})
    with pytest.raises(ValueError, match="positive integer max_work"):
        SignatureLimits(max_work=0)
    with pytest.raises(TypeError, match="SignatureLimits"):
        with signature_limits({"max_examples": 3}):
            pass
