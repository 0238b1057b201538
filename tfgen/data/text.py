"""`text`: English text bundled with Python itself, as bytes.

The text is `pydoc_data.topics.topics` (Python's help topics), its values
joined in sorted-key order and encoded as UTF-8: about 466k bytes that stand
in for text8 / enwik8. The split is by contiguous ranges: the first 90% of the
bytes are `"train"`, the next 5% `"valid"`, the last 5% `"test"`.

Elements are non-overlapping windows `{"tokens": int32 [seq_len]}` of byte
values (`num_categories` 256); option `seq_len` defaults to 128. `"valid"` and
`"test"` windows start at the beginning of their range (a last partial window
is dropped); `"train"` windows start at a seeded random offset in
`[0, seq_len)` that changes every epoch, so every position is seen.
"""

import functools

import numpy as np
import tensorflow as tf

from tfgen.data import _common

SPLITS = ("train", "valid", "test")
NUM_CATEGORIES = 256


@functools.lru_cache(maxsize=None)
def split_bytes():
    """Returns `{"train": bytes, "valid": bytes, "test": bytes}`."""
    from pydoc_data.topics import topics

    data = "".join(topics[key] for key in sorted(topics)).encode("utf-8")
    train_end, valid_end = int(0.9 * len(data)), int(0.95 * len(data))
    return {"train": data[:train_end], "valid": data[train_end:valid_end], "test": data[valid_end:]}


def _num_windows(split, seq_len):
    size = len(split_bytes()[split])
    # Train windows must fit after any offset in [0, seq_len).
    return (size - seq_len + 1) // seq_len if split == "train" else size // seq_len


def _info(seq_len):
    shortest = min(len(data) for data in split_bytes().values())
    seq_len = _common.check_int("seq_len of dataset 'text'", seq_len, 1, shortest)
    return _common.DatasetInfo(
        name="text",
        features={"tokens": tf.TensorSpec([seq_len], tf.int32)},
        num_examples={split: _num_windows(split, seq_len) for split in SPLITS},
        num_categories=NUM_CATEGORIES,
    )


def _make(split, *, shuffle, repeat, seed, seq_len):
    num_windows = _info(seq_len).num_examples[split]
    data = tf.constant(np.frombuffer(split_bytes()[split], np.uint8))
    random_offset = split == "train"

    def example(index, epoch_seed):
        offset = (
            tf.random.stateless_uniform([], epoch_seed, 0, seq_len, tf.int64)
            if random_offset
            else tf.constant(0, tf.int64)
        )
        window = tf.slice(data, [offset + index * seq_len], [seq_len])
        return {"tokens": tf.cast(window, tf.int32)}

    return _common.indexed_dataset(
        num_windows,
        example,
        seed=_common.base_seed(seed, "text", split),
        shuffle=shuffle,
        repeat=repeat,
        per_epoch=random_offset,
    )


_common.register("text", {"seq_len": 128}, _info, _make)
