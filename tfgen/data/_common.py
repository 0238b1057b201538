"""The dataset registry, `DatasetInfo`, `load`, and shared pipeline pieces.

Each dataset module registers a `_Spec` here at import time. `load` validates
the arguments, asks the spec for an unbatched element stream, then applies the
batching and prefetching that every dataset shares.

Randomness is stateless: every random draw is a function of the `seed`
argument, a per-dataset salt and (for data that changes between epochs) the
epoch index, so two pipelines built with the same arguments produce the same
elements whatever the global TensorFlow seed is.
"""

import dataclasses
import itertools
import numbers
import zlib
from typing import Any, Callable, Mapping, Optional

import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What a dataset yields, for building models before touching the data.

    Attributes:
      name: the registered dataset name.
      features: per-example (unbatched) `tf.TensorSpec` of every element key.
      num_examples: examples per split; `None` for endless generated tasks.
      num_levels: distinct values per image channel (2 when binarised, 256 for
        grey MNIST, ...), or `None` for non-image data.
      num_labels: number of label classes, or `None`.
      num_categories: number of token values, or `None`.
    """

    name: str
    features: Mapping[str, tf.TensorSpec]
    num_examples: Mapping[str, Optional[int]]
    num_levels: Optional[int] = None
    num_labels: Optional[int] = None
    num_categories: Optional[int] = None

    @property
    def image_shape(self):
        """`(H, W, C)` of `features["image"]`, or `None` without images."""
        spec = self.features.get("image")
        return None if spec is None else tuple(spec.shape.as_list())

    @property
    def splits(self):
        """The split names, in their conventional order."""
        return tuple(self.num_examples)


@dataclasses.dataclass(frozen=True)
class _Spec:
    """A registered dataset.

    `info(**options)` validates fully-resolved options and returns the
    `DatasetInfo`; `make(split, shuffle=, repeat=, seed=, **options)` returns
    the unbatched `tf.data.Dataset` (already repeated when `repeat`).
    """

    name: str
    defaults: Mapping[str, Any]
    info: Callable[..., DatasetInfo]
    make: Callable[..., tf.data.Dataset]


_REGISTRY = {}


def register(name, defaults, info_fn, make_fn):
    """Adds a dataset to the registry (called by the dataset modules)."""
    if name in _REGISTRY:
        raise ValueError(f"Dataset {name!r} is already registered.")
    _REGISTRY[name] = _Spec(name, dict(defaults), info_fn, make_fn)


def names():
    """Returns the sorted names of all datasets `load` accepts."""
    return sorted(_REGISTRY)


def _resolve(name, options):
    """Looks up `name` and merges `options` over its defaults."""
    if name not in _REGISTRY:
        raise ValueError(f"Unknown dataset {name!r}; expected one of {names()}.")
    spec = _REGISTRY[name]
    unknown = sorted(set(options) - set(spec.defaults))
    if unknown:
        raise ValueError(
            f"Unknown option(s) {unknown} for dataset {name!r}; "
            f"expected some of {sorted(spec.defaults)}."
        )
    return spec, {**spec.defaults, **options}


def info(name, **options):
    """Describes dataset `name` as `load(name, **options)` would yield it.

    Args:
      name: one of `names()`.
      **options: dataset options (e.g. `view="grey", levels=16` for `mnist`).

    Returns:
      A `DatasetInfo`.

    Raises:
      ValueError: on an unknown name, an unknown option or a bad option value.
    """
    spec, options = _resolve(name, options)
    return spec.info(**options)


def load(
    name,
    split="train",
    *,
    batch_size=None,
    shuffle=None,
    repeat=False,
    seed=0,
    drop_remainder=False,
    **options,
):
    """Returns dataset `name` as a `tf.data.Dataset` of dicts of tensors.

    Args:
      name: one of `names()`.
      split: a key of `info(name).num_examples`, e.g. `"train"` or `"test"`.
      batch_size: examples per batch, or `None` for unbatched elements.
      shuffle: whether to shuffle; `None` shuffles the `"train"` split only.
        The order is a seeded permutation that changes each epoch (each pass
        over the dataset, or each repetition when `repeat`), reproducibly.
        Generated tasks are i.i.d. streams and ignore it.
      repeat: whether to repeat the split endlessly (generated tasks always
        are endless).
      seed: the integer seed of every random choice (order, dynamic
        binarisation, window offsets, generated examples).
      drop_remainder: whether to drop a last, smaller batch.
      **options: dataset options; see `info`.

    Returns:
      A `tf.data.Dataset` whose elements are dicts with the keys and (batched)
      specs of `info(name, **options).features`.

    Raises:
      ValueError: on an unknown name, split or option, or a bad argument value.
    """
    spec, options = _resolve(name, options)
    dataset_info = spec.info(**options)
    if split not in dataset_info.num_examples:
        raise ValueError(
            f"Unknown split {split!r} for dataset {name!r}; "
            f"expected one of {list(dataset_info.num_examples)}."
        )
    if batch_size is not None:
        check_int("batch_size", batch_size, low=1)
    if shuffle is not None and not isinstance(shuffle, bool):
        raise ValueError(f"shuffle must be None, True or False; got {shuffle!r}.")
    for flag, value in (("repeat", repeat), ("drop_remainder", drop_remainder)):
        if not isinstance(value, bool):
            raise ValueError(f"{flag} must be True or False; got {value!r}.")
    check_int("seed", seed, low=0, high=2**63 - 1)
    if shuffle is None:
        shuffle = split == "train"
    dataset = spec.make(split, shuffle=shuffle, repeat=repeat, seed=int(seed), **options)
    if batch_size is not None:
        dataset = dataset.batch(int(batch_size), drop_remainder=drop_remainder)
    return dataset.prefetch(tf.data.AUTOTUNE)


def check_int(what, value, low=None, high=None):
    """Raises `ValueError` unless `value` is an int in `[low, high]`."""
    bounds = f"in [{low}, {high}]" if high is not None else f">= {low}"
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or (low is not None and value < low)
        or (high is not None and value > high)
    ):
        raise ValueError(f"{what} must be an int {bounds}; got {value!r}.")
    return int(value)


def base_seed(seed, *salts):
    """A stateless-RNG seed (int64 `[2]`) from `seed` folded with `salts`.

    String salts (dataset and split names) are hashed with CRC32, so each
    dataset and split draws from its own stream.
    """
    key = tf.constant([seed, 0], tf.int64)
    for salt in salts:
        if isinstance(salt, str):
            salt = zlib.crc32(salt.encode())
        key = tf.random.experimental.stateless_fold_in(key, tf.constant(salt, tf.int64))
    return key


def _epoch_indices(repeat):
    """Dataset of epoch numbers that keep counting across passes.

    Each new iterator over the returned dataset continues the count (0, then 1
    on the next pass, ...), so a finite dataset that Keras iterates once per
    epoch still sees a fresh epoch each time; `repeat` counts forever within
    one pass. The count starts from 0 for every new pipeline, so rebuilt
    pipelines replay the same epochs.
    """
    counter = itertools.count()

    def generate():
        while True:
            yield next(counter)
            if not repeat:
                return

    return tf.data.Dataset.from_generator(generate, output_signature=tf.TensorSpec([], tf.int64))


def indexed_dataset(num_examples, example_fn, *, seed, shuffle, repeat, per_epoch):
    """Elements `example_fn(index, data_seed)` for index over a finite split.

    Args:
      num_examples: size of the split; indices run over `[0, num_examples)`.
      example_fn: maps an int64 index and an int64 `[2]` seed to an element.
      seed: a `base_seed` tensor.
      shuffle: whether each epoch visits the indices in a fresh permutation.
      repeat: whether to repeat epochs endlessly.
      per_epoch: whether `data_seed` changes with the epoch (for data that is
        resampled each epoch); otherwise it is `seed` itself.

    Returns:
      An unbatched `tf.data.Dataset` with cardinality `num_examples` (or
      infinite when `repeat`).
    """
    if not shuffle and not per_epoch:
        dataset = tf.data.Dataset.range(num_examples).map(
            lambda index: example_fn(index, seed), num_parallel_calls=tf.data.AUTOTUNE
        )
        return dataset.repeat() if repeat else dataset

    def epoch(epoch_index):
        epoch_seed = tf.random.experimental.stateless_fold_in(seed, epoch_index)
        order_seed, data_seed = tf.unstack(tf.random.experimental.stateless_split(epoch_seed, 2))
        indices = tf.range(num_examples, dtype=tf.int64)
        if shuffle:
            indices = tf.random.experimental.stateless_shuffle(indices, order_seed)
        return tf.data.Dataset.from_tensor_slices(indices).map(
            lambda index: (index, data_seed if per_epoch else seed)
        )

    dataset = (
        _epoch_indices(repeat).flat_map(epoch).map(example_fn, num_parallel_calls=tf.data.AUTOTUNE)
    )
    cardinality = tf.data.INFINITE_CARDINALITY if repeat else num_examples
    return dataset.apply(tf.data.experimental.assert_cardinality(cardinality))
