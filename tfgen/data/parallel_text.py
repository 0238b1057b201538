"""`parallel_text`: (source, target) byte strings made from the `text` dataset, for translation.

A stand-in for a character-level translation corpus (ByteNet, arXiv
1610.10099 Sec. 6). Each split of `text` (`tfgen.data.text`) is cut into
sentences (at `.`, `!` or `?` followed by white space, and at blank lines),
white space is collapsed to single spaces, and every sentence is cut into
spans of whole words of at most `max_len` bytes (a word longer than that is
cut into pieces). A span is a source; its target is a fixed
transformation of it: the bytes of every word are reversed, then the
letters `x`, `q`, `z`, `j` become `ks`, `kw`, `ts`, `dj`. Pairs whose target
is longer than 1.2 times the source (`LENGTH_RATIO`) are dropped, so
ByteNet's dynamic unfolding with a = 1.2, b = 0 covers every target.

Elements are `{"source": int32 [max_len], "target": int32 [target_len]}`
with `target_len = ceil(1.2 * max_len) + 1`: the source bytes padded with
`PAD` (0), the target bytes followed by `END` (1) and padded with `PAD`.
Neither byte value occurs in `text`; tokens have `num_categories` 256.
Option `max_len` defaults to 64. The pairs are fixed; the `"train"` order is a
seeded shuffle that changes every epoch.
"""

import functools
import re

import numpy as np
import tensorflow as tf

from tfgen.data import _common, text

SPLITS = text.SPLITS
NUM_CATEGORIES = text.NUM_CATEGORIES
PAD, END = 0, 1
LENGTH_RATIO = 1.2
# The letters that become two: the target is not the reversed source alone, and longer.
LETTER_MAP = {b"x": b"ks", b"q": b"kw", b"z": b"ts", b"j": b"dj"}
_SENTENCE_BREAK = re.compile(rb"(?<=[.!?])\s+|\n\s*\n")
_LETTERS = re.compile(b"|".join(re.escape(letter) for letter in LETTER_MAP))


def target_len(max_len):
    """Target symbols per element: `ceil(1.2 * max_len)` bytes and `END`."""
    return -(-6 * max_len // 5) + 1


def translate(source):
    """The target bytes of source bytes: every word reversed, then `LETTER_MAP` applied.

    >>> translate(b"the quick fox")
    b'eht kciukw ksof'
    """
    reversed_words = b" ".join(word[::-1] for word in source.split(b" "))
    return _LETTERS.sub(lambda match: LETTER_MAP[match.group()], reversed_words)


def _spans(sentence, max_len):
    """Whole-word spans of at most `max_len` bytes (long words cut) of one sentence."""
    spans, current = [], b""
    for word in sentence.split():
        for piece in (word[i : i + max_len] for i in range(0, len(word), max_len)):
            joined = current + b" " + piece if current else piece
            if len(joined) > max_len:
                spans.append(current)
                joined = piece
            current = joined
    return spans + [current] if current else spans


@functools.lru_cache(maxsize=None)
def pairs(split, max_len):
    """The (source, target) byte-string pairs of `split`, in text order."""
    result = []
    for sentence in _SENTENCE_BREAK.split(text.split_bytes()[split]):
        for source in _spans(sentence, max_len):
            target = translate(source)
            if 5 * len(target) <= 6 * len(source):  # len(target) <= 1.2 len(source)
                result.append((source, target))
    return tuple(result)


@functools.lru_cache(maxsize=None)
def _arrays(split, max_len):
    """int32 sources [N, max_len] and targets [N, target_len] of `split`."""
    split_pairs = pairs(split, max_len)
    sources = np.full([len(split_pairs), max_len], PAD, np.int32)
    targets = np.full([len(split_pairs), target_len(max_len)], PAD, np.int32)
    for row, (source, target) in enumerate(split_pairs):
        sources[row, : len(source)] = np.frombuffer(source, np.uint8)
        targets[row, : len(target)] = np.frombuffer(target, np.uint8)
        targets[row, len(target)] = END
    return sources, targets


def _info(max_len):
    max_len = _common.check_int("max_len of dataset 'parallel_text'", max_len, 1, 4096)
    return _common.DatasetInfo(
        name="parallel_text",
        features={
            "source": tf.TensorSpec([max_len], tf.int32),
            "target": tf.TensorSpec([target_len(max_len)], tf.int32),
        },
        num_examples={split: len(pairs(split, max_len)) for split in SPLITS},
        num_categories=NUM_CATEGORIES,
    )


def _make(split, *, shuffle, repeat, seed, max_len):
    num_examples = _info(max_len).num_examples[split]
    sources, targets = (tf.constant(array) for array in _arrays(split, max_len))

    def example(index, data_seed):
        del data_seed  # The pairs are fixed; only the order is random.
        return {"source": tf.gather(sources, index), "target": tf.gather(targets, index)}

    return _common.indexed_dataset(
        num_examples,
        example,
        seed=_common.base_seed(seed, "parallel_text", split),
        shuffle=shuffle,
        repeat=repeat,
        per_epoch=False,
    )


_common.register("parallel_text", {"max_len": 64}, _info, _make)
