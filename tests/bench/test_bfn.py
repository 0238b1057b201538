"""Smoke test of bench/bfn.py: BFN sampling, graph against XLA, the four test-size models."""

from tests.bench import smoke


def test_bfn_tiny():
    out = smoke.run("bfn")
    (table,) = smoke.tables(out)
    assert table.header == [
        "model",
        "data shape",
        "steps",
        "graph ms/step",
        "XLA ms/step",
        "XLA speed-up",
        "same samples",
    ]
    models = [
        ("bfn_continuous", "8x8x1"),
        ("bfn_discretised", "8x8x1"),
        ("bfn_discrete", "8x8x1"),
        ("bfn_discrete_text", "16"),
    ]
    # --tiny: 2 and 4 sampling steps per model.
    assert [row[:3] for row in table.rows] == [
        [name, shape, steps] for name, shape in models for steps in ("2", "4")
    ]
    for row in table.rows:
        smoke.number(row[3], low=0)
        smoke.number(row[4], low=0)
        assert smoke.number(row[5]) > 0
        assert row[6] in ("yes", "no")
    assert "BFN sampling, batch 2, test hyper-parameters" in out
