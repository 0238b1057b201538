"""Labelled grey-scale image datasets and their views (shared by mnist, digits).

A source is a fixed array of raw integer pixel values in `[0, max_value]` with
class labels, split once into train/test by a fixed per-class permutation.
Its views:

- `"binary"`: static binarisation, `1` where `raw / max_value >= 0.5`.
- `"binary_dynamic"`: `1` with probability `raw / max_value`, resampled every
  training epoch from the `seed`. Non-train splits are sampled once, from a
  fixed seed, so evaluations are comparable across runs.
- `"grey"`: `floor(raw * levels / (max_value + 1))`, `levels` grey levels
  (default `max_value + 1`, the raw values themselves).

Elements are `{"image": int32 [H, W, 1], "label": int32 []}`.
"""

import dataclasses
import functools
from typing import Callable, Tuple

import numpy as np
import tensorflow as tf

from tfgen.data import _common

VIEWS = ("binary", "binary_dynamic", "grey")
_EVAL_SEED = 20240607  # Fixes the dynamic binarisation of non-train splits.


@dataclasses.dataclass(frozen=True)
class ImageSource:
    """A labelled image array and its fixed split.

    Attributes:
      name: dataset name.
      load: returns `(images, labels)`: raw ints `[N, H, W]` and ints `[N]`.
      max_value: the largest raw pixel value (255 for MNIST).
      test_per_class: test examples per class; the rest are train.
      split_seed: seed of the fixed split permutation (not the `load` seed).
    """

    name: str
    load: Callable[[], Tuple[np.ndarray, np.ndarray]]
    max_value: int
    test_per_class: int
    split_seed: int

    @functools.cached_property
    def splits(self):
        """`{"train": (images, labels), "test": ...}`: uint8 `[n, H, W, 1]`, int32 `[n]`."""
        images, labels = self.load()
        rng = np.random.RandomState(self.split_seed)
        train, test = [], []
        for label in np.unique(labels):
            members = rng.permutation(np.flatnonzero(labels == label))
            test.append(members[: self.test_per_class])
            train.append(members[self.test_per_class :])
        # A fixed interleaving, so unshuffled passes are not sorted by class.
        train, test = rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))
        images = images.astype(np.uint8)[..., None]
        labels = labels.astype(np.int32)
        return {"train": (images[train], labels[train]), "test": (images[test], labels[test])}

    def register(self):
        """Adds this source to the `tfgen.data` registry."""
        _common.register(self.name, {"view": "binary", "levels": None}, self.info, self.make)

    def _options(self, view, levels):
        if view not in VIEWS:
            raise ValueError(
                f"Unknown view {view!r} for dataset {self.name!r}; expected one of {list(VIEWS)}."
            )
        if levels is None:
            return 2 if view != "grey" else self.max_value + 1
        if view != "grey":
            raise ValueError(
                f"Option levels of dataset {self.name!r} must only be set with "
                f"view='grey'; got levels={levels!r} with view={view!r}."
            )
        return _common.check_int(f"levels of dataset {self.name!r}", levels, 2, self.max_value + 1)

    def info(self, view, levels):
        """The `DatasetInfo` of a view."""
        num_levels = self._options(view, levels)
        images, _ = self.splits["train"]
        return _common.DatasetInfo(
            name=self.name,
            features={
                "image": tf.TensorSpec(images.shape[1:], tf.int32),
                "label": tf.TensorSpec([], tf.int32),
            },
            num_examples={split: len(labels) for split, (_, labels) in self.splits.items()},
            num_levels=num_levels,
            num_labels=10,
        )

    def make(self, split, *, shuffle, repeat, seed, view, levels):
        """The unbatched dataset of a split in a view."""
        num_levels = self._options(view, levels)
        images, labels = self.splits[split]
        images, labels = tf.constant(images), tf.constant(labels)
        dynamic = view == "binary_dynamic"
        per_epoch = dynamic and split == "train"
        eval_seed = _common.base_seed(_EVAL_SEED, self.name, split)
        max_value = self.max_value

        def example(index, example_seed):
            raw = tf.cast(tf.gather(images, index), tf.int32)
            if view == "grey":
                image = raw * num_levels // (max_value + 1)
            elif dynamic:
                pixel_seed = tf.random.experimental.stateless_fold_in(
                    example_seed if per_epoch else eval_seed, index
                )
                uniform = tf.random.stateless_uniform(raw.shape, pixel_seed)
                image = tf.cast(uniform * max_value < tf.cast(raw, tf.float32), tf.int32)
            else:
                image = tf.cast(2 * raw >= max_value, tf.int32)
            return {"image": image, "label": tf.gather(labels, index)}

        return _common.indexed_dataset(
            len(labels),
            example,
            seed=_common.base_seed(seed, self.name, split),
            shuffle=shuffle,
            repeat=repeat,
            per_epoch=per_epoch,
        )
