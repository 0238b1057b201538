"""Smoke test of bench/bytenet.py: the ByteNet language model and translator against baselines."""

import re

from tests.bench import smoke
from tfgen.data import parallel_text

# --tiny: the golden sizes (d = 4, one set of dilations (2)), 2 steps, 16 test pairs of
# at most 8 source bytes.
TEST_PAIRS = parallel_text.pairs("test", 8)[:16]


def test_bytenet_tiny():
    out = smoke.run("bytenet")
    head, sample = out.split("Whole script:")
    language, translation, examples = smoke.tables(head)

    assert language.header == [
        "model",
        "parameters",
        "test bits/char",
        "steps / s",
        "paper (bits/char)",
    ]
    assert language.column("model") == [
        "`bytenet_lm`, d = 4, k = 3, 1 x (2) MU blocks",
        "unigram (training-split counts, add-one)",
        "bigram (training-split counts, add-one)",
    ]
    smoke.number(language.rows[0][1], low=1)
    bits = [smoke.number(cell, low=0, high=10) for cell in language.column("test bits/char")]
    assert bits[2] < bits[1] < 8  # the n-grams beat uniform bytes, the bigram the unigram
    assert smoke.numbers(language.rows[0][3])[0] == 2  # "2 / N": the --tiny step count
    assert language.rows[0][4] == "1.31 (enwik8)"

    assert translation.header == [
        "model",
        "parameters",
        "test bits/byte",
        "exact match",
        "byte accuracy",
        "steps / s",
        "paper",
    ]
    assert translation.column("model") == [
        "`bytenet_translate`, d = 4, k = 3, 1 x (2) ReLU blocks in each network",
        "copy baseline (target := source)",
    ]
    model, copy = translation.rows
    smoke.number(model[1], low=1)
    smoke.number(model[2], low=0, high=10)
    for row in (model, copy):
        smoke.number(row[3], low=0, high=100)
        smoke.number(row[4], low=0, high=100)
    assert smoke.numbers(model[5])[0] == 2
    assert model[6].startswith("BLEU 23.75 (newstest2014; not comparable")
    # The copy baseline is right exactly where a target equals its source.
    copied = sum(source == target for source, target in TEST_PAIRS)
    assert copy[3] == f"{100 * copied / len(TEST_PAIRS):.1f}%"
    assert "Scored on 16 test pairs" in head

    assert examples.header == ["source", "target", "ByteNet (greedy)"]
    assert len(examples.rows) == 2
    for source, target, _ in examples.rows:
        assert target == f"`{parallel_text.translate(source.strip('`').encode()).decode()}`"

    # A 20-byte sample in a fenced block after the tables.
    assert "A 20-byte sample of `bytenet_lm` at temperature 1" in sample
    fenced = re.search(r"\n(`{3,})\n(.*)\n\1$", sample.strip(), re.DOTALL)
    assert fenced and 0 < len(fenced.group(2)) <= 20, sample
