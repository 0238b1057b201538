"""Tests of the `parallel_text` dataset against the `text` bytes it is cut from."""

import numpy as np
import pytest

from tfgen import data
from tfgen.data import parallel_text, text

MAX_LEN = 24
TARGET_LEN = 30  # ceil(1.2 * 24) + 1
SWAPS = {"x": "ks", "q": "kw", "z": "ts", "j": "dj"}


def _expected_target(source):
    """The documented transformation, on str: words reversed, then four letters doubled."""
    reversed_words = " ".join(word[::-1] for word in source.split(" "))
    return "".join(SWAPS.get(char, char) for char in reversed_words)


def _elements(split, **kwargs):
    batch = next(iter(data.load("parallel_text", split, batch_size=100000, **kwargs)))
    return batch["source"].numpy(), batch["target"].numpy()


def _unpad(row):
    return bytes(row[row != parallel_text.PAD].astype(np.uint8))


def test_info_and_shapes():
    info = data.info("parallel_text", max_len=MAX_LEN)
    assert info.features["source"].shape == [MAX_LEN]
    assert info.features["target"].shape == [TARGET_LEN]
    assert info.num_categories == 256 and list(info.num_examples) == ["train", "valid", "test"]
    default = data.info("parallel_text")
    assert (default.features["source"].shape, default.features["target"].shape) == ([64], [78])
    assert all(400 < n for n in default.num_examples.values())


@pytest.mark.parametrize("split", ["valid", "test"])
def test_pairs_are_spans_of_the_split_and_their_transformation(split):
    sources, targets = _elements(split, max_len=MAX_LEN)
    assert len(sources) == data.info("parallel_text", max_len=MAX_LEN).num_examples[split]
    words = b" ".join(text.split_bytes()[split].split())
    position = 0
    for source_row, target_row in zip(sources, targets):
        length = int((source_row != parallel_text.PAD).sum())
        assert 1 <= length <= MAX_LEN and (source_row[length:] == parallel_text.PAD).all()
        source_bytes = _unpad(source_row)
        # Spans come in text order (unshuffled splits), each after the last.
        found = words.find(source_bytes, position)
        assert found >= position, source_bytes
        position = found + len(source_bytes)
        source = source_bytes.decode("latin-1")  # one char per byte
        assert source == source.strip(" ") and "  " not in source
        end = int(np.flatnonzero(target_row == parallel_text.END)[0])
        target = bytes(target_row[:end].astype(np.uint8)).decode("latin-1")
        assert target == _expected_target(source)
        assert 5 * end <= 6 * length  # within 1.2 times the source
        assert (target_row[end + 1 :] == parallel_text.PAD).all()
    assert position > 0.8 * len(words)  # few bytes dropped


def test_pad_and_end_never_occur_in_text():
    for split_bytes in text.split_bytes().values():
        assert parallel_text.PAD not in split_bytes and parallel_text.END not in split_bytes


def test_some_targets_are_longer_than_their_sources():
    sources, targets = _elements("train", max_len=MAX_LEN, shuffle=False)
    source_lengths = (sources != parallel_text.PAD).sum(1)
    target_lengths = (targets > parallel_text.END).sum(1)
    assert (target_lengths > source_lengths).mean() > 0.1
    assert (target_lengths <= 1.2 * source_lengths).all()


def test_train_order_is_a_seeded_shuffle():
    ordered = _elements("train", max_len=MAX_LEN, shuffle=False)[0]
    shuffled = _elements("train", max_len=MAX_LEN, seed=3)[0]
    assert not np.array_equal(ordered, shuffled)
    np.testing.assert_array_equal(shuffled, _elements("train", max_len=MAX_LEN, seed=3)[0])
    assert sorted(map(bytes, ordered)) == sorted(map(bytes, shuffled))
    assert not np.array_equal(shuffled, _elements("train", max_len=MAX_LEN, seed=4)[0])


def test_long_words_are_cut_and_bad_options_raise():
    assert parallel_text.translate(b"abc de") == b"cba ed"
    sources = _elements("test", max_len=3)[0]
    assert ((sources != parallel_text.PAD).sum(1) <= 3).all()
    for bad in (0, 5000, 2.5):
        with pytest.raises(ValueError, match="max_len of dataset 'parallel_text' must be"):
            data.info("parallel_text", max_len=bad)
