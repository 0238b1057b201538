"""Tests of the `text` dataset against Python's own help text."""

from pydoc_data.topics import topics

import numpy as np
import pytest

from tfgen import data


@pytest.fixture(scope="module")
def splits():
    text = "".join(topics[key] for key in sorted(topics)).encode("utf-8")
    a, b = int(0.9 * len(text)), int(0.95 * len(text))
    return {"train": text[:a], "valid": text[a:b], "test": text[b:]}


def _windows(split, **kwargs):
    dataset = data.load("text", split, batch_size=100000, **kwargs)
    return next(iter(dataset))["tokens"].numpy()


@pytest.mark.parametrize("split", ["valid", "test"])
@pytest.mark.parametrize("seq_len", [64, 100])
def test_fixed_splits_round_trip(splits, split, seq_len):
    windows = _windows(split, seq_len=seq_len)
    expected = splits[split]
    assert (
        len(windows)
        == len(expected) // seq_len
        == data.info("text", seq_len=seq_len).num_examples[split]
    )
    assert windows.dtype == np.int32 and windows.min() >= 0 and windows.max() < 256
    assert bytes(windows.astype(np.uint8).ravel()) == expected[: len(windows) * seq_len]
    np.testing.assert_array_equal(windows, _windows(split, seq_len=seq_len, seed=9))


def test_train_windows_have_a_random_offset_each_epoch(splits):
    seq_len = 128
    dataset = data.load("text", "train", batch_size=100000, shuffle=False, seq_len=seq_len)
    offsets = []
    for _ in range(3):
        windows = next(iter(dataset))["tokens"].numpy()
        assert len(windows) == data.info("text").num_examples["train"]
        flat = bytes(windows.astype(np.uint8).ravel())
        matches = [o for o in range(seq_len) if splits["train"][o : o + len(flat)] == flat]
        assert len(matches) == 1
        offsets.append(matches[0])
    assert len(set(offsets)) > 1
    replay = data.load("text", "train", batch_size=100000, shuffle=False, seq_len=seq_len)
    first = bytes(next(iter(replay))["tokens"].numpy().astype(np.uint8).ravel())
    assert splits["train"][offsets[0] :].startswith(first)


def test_train_windows_are_shuffled_train_text(splits):
    windows = _windows("train", seq_len=256, seed=4)
    rows = {splits["train"][i : i + 256] for i in range(0, len(splits["train"]) - 255)}
    assert all(bytes(w.astype(np.uint8)) in rows for w in windows[:50])
    ordered = _windows("train", seq_len=256, seed=4, shuffle=False)
    assert not np.array_equal(windows, ordered)
    test_windows = set(map(bytes, _windows("test", seq_len=256).astype(np.uint8)))
    assert not test_windows & set(map(bytes, windows.astype(np.uint8)))
