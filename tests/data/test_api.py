"""Tests of the `tfgen.data` API: names, info/load agreement, argument checks."""

import re

import pytest
import tensorflow as tf

from tfgen import data

SMALL_OPTIONS = {
    "addition": {"num_digits": 3, "seq_len": 4},
    "associative_recall": {"num_bits": 4, "item_len": 2, "max_items": 4},
    "audio": {"clip_length": 256, "hop_length": 32, "frame_length": 64, "num_mels": 4},
    "copy": {"num_bits": 4, "max_len": 5},
    "digits": {},
    "episodic_copy": {"num_chars": 4, "max_len": 5, "max_pause": 9},
    "logic": {"max_len": 4, "max_gates": 3},
    "long_addition": {"num_digits": 5},
    "mnist": {"view": "grey", "levels": 16},
    "moving_digits": {"frame_size": 32, "num_frames": 4},
    "parallel_text": {"max_len": 16},
    "parity": {"num_bits": 12},
    "repeat_copy": {"num_bits": 4, "max_len": 3, "max_repeats": 4},
    "sort": {"max_len": 6},
    "text": {"seq_len": 32},
    "variable_assignment": {"max_assignments": 3, "max_key_len": 2},
    "xml": {"seq_len": 60, "max_depth": 3, "max_tag_len": 4},
}


def test_names():
    assert data.names() == [
        "addition",
        "associative_recall",
        "audio",
        "copy",
        "digits",
        "episodic_copy",
        "logic",
        "long_addition",
        "mnist",
        "moving_digits",
        "parallel_text",
        "parity",
        "repeat_copy",
        "sort",
        "text",
        "variable_assignment",
        "xml",
    ]
    assert data.names() == sorted(SMALL_OPTIONS)  # Every dataset is covered below.


@pytest.mark.parametrize("name", sorted(SMALL_OPTIONS))
def test_elements_match_info(name):
    info = data.info(name, **SMALL_OPTIONS[name])
    assert info.name == name
    dataset = data.load(name, "train", **SMALL_OPTIONS[name])
    assert dataset.element_spec == dict(info.features)
    element = next(iter(dataset))
    for key, spec in info.features.items():
        assert spec.is_compatible_with(element[key])
    batched = data.load(name, "test", batch_size=3, drop_remainder=True, **SMALL_OPTIONS[name])
    for key, spec in batched.element_spec.items():
        assert spec.shape.as_list() == [3] + info.features[key].shape.as_list()
        assert spec.dtype == info.features[key].dtype
    batch = next(iter(batched))
    assert {key: value.shape.as_list() for key, value in batch.items()} == {
        key: [3] + spec.shape.as_list() for key, spec in info.features.items()
    }


def test_info_fields():
    mnist = data.info("mnist")
    assert mnist.image_shape == (28, 28, 1)
    assert (mnist.num_levels, mnist.num_labels, mnist.num_categories) == (2, 10, None)
    assert dict(mnist.num_examples) == {"train": 4000, "test": 1000}
    assert data.info("mnist", view="grey").num_levels == 256
    assert data.info("mnist", view="grey", levels=16).num_levels == 16
    assert data.info("mnist", view="binary_dynamic").num_levels == 2
    digits = data.info("digits", view="grey")
    assert (digits.image_shape, digits.num_levels) == ((8, 8, 1), 17)
    assert dict(digits.num_examples) == {"train": 1437, "test": 360}
    text = data.info("text")
    assert (text.image_shape, text.num_categories) == (None, 256)
    assert list(text.num_examples) == ["train", "valid", "test"]
    assert dict(data.info("parity").num_examples) == {"train": None, "test": None}


def test_cardinality_and_repeat():
    assert data.load("digits", "test").cardinality().numpy() == 360
    assert data.load("digits", "train").cardinality().numpy() == 1437
    assert data.load("digits", "test", batch_size=100).cardinality().numpy() == 4
    assert data.load("digits", "test", batch_size=100, drop_remainder=True).cardinality() == 3
    infinite = tf.data.INFINITE_CARDINALITY
    assert data.load("digits", repeat=True).cardinality().numpy() == infinite
    assert data.load("digits", "test", repeat=True).cardinality().numpy() == infinite
    assert data.load("copy").cardinality().numpy() == infinite


def test_decoded_arrays_are_cached():
    from tfgen.data import mnist

    for _ in range(3):
        data.load("mnist", "test")
    assert mnist._load.cache_info().misses <= 1


BAD_ARGUMENTS = [
    (data.info, ("parallel_text",), {"max_len": 0}, "0"),
    (data.load, ("mnsit",), {}, "mnsit"),
    (data.info, ("mnsit",), {}, "mnsit"),
    (data.load, ("mnist", "valid"), {}, "valid"),
    (data.load, ("parity", "valid"), {}, "valid"),
    (data.load, ("mnist",), {"colour": True}, "colour"),
    (data.info, ("text",), {"view": "grey"}, "view"),
    (data.load, ("mnist",), {"view": "bin"}, "bin"),
    (data.info, ("digits",), {"view": "Grey"}, "Grey"),
    (data.load, ("mnist",), {"view": "grey", "levels": 1}, "1"),
    (data.load, ("mnist",), {"view": "grey", "levels": 257}, "257"),
    (data.load, ("mnist",), {"view": "grey", "levels": 2.5}, "2.5"),
    (data.info, ("mnist",), {"view": "grey", "levels": True}, "True"),
    (data.load, ("mnist",), {"levels": 16}, "levels"),
    (data.load, ("digits",), {"view": "grey", "levels": 18}, "18"),
    (data.load, ("mnist",), {"batch_size": 0}, "0"),
    (data.load, ("mnist",), {"batch_size": -3}, "-3"),
    (data.load, ("mnist",), {"batch_size": 2.0}, "2.0"),
    (data.load, ("mnist",), {"shuffle": "yes"}, "yes"),
    (data.load, ("mnist",), {"repeat": None}, "None"),
    (data.load, ("mnist",), {"drop_remainder": 1}, "1"),
    (data.load, ("mnist",), {"seed": -1}, "-1"),
    (data.load, ("mnist",), {"seed": "a"}, "a"),
    (data.load, ("text",), {"seq_len": 0}, "0"),
    (data.info, ("moving_digits",), {"digit_size": 29}, "29"),
    (data.load, ("moving_digits",), {"frame_size": 12, "digit_size": 12}, "got 12"),
    (data.load, ("text",), {"seq_len": 10**7}, str(10**7)),
    (data.load, ("parity",), {"num_bits": 0}, "0"),
    (data.info, ("addition",), {"num_digits": 0}, "0"),
    (data.info, ("addition",), {"num_digits": 18}, "18"),
    (data.load, ("addition",), {"seq_len": 11}, "11"),
    (data.load, ("copy",), {"max_len": 0}, "0"),
    (data.load, ("copy",), {"num_bits": -1}, "-1"),
    (data.info, ("associative_recall",), {"item_len": 0}, "0"),
    (data.load, ("associative_recall",), {"min_items": 1}, "1"),
    (data.info, ("associative_recall",), {"max_items": 1}, "1"),
    (data.load, ("associative_recall",), {"min_items": 5, "max_items": 4}, "4"),
]


@pytest.mark.parametrize("function, args, kwargs, bad", BAD_ARGUMENTS)
def test_bad_arguments_raise(function, args, kwargs, bad):
    with pytest.raises(ValueError, match=re.escape(bad)) as error:
        function(*args, **kwargs)
    assert "expected" in str(error.value) or "must" in str(error.value)
