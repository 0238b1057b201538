"""Smoke test of bench/bptt_msm.py: memory-efficient BPTT against plain BPTT."""

from tests.bench import smoke
from tfgen.algorithms.bptt_msm import hsm_cost


def test_bptt_msm_tiny(tmp_path):
    plot = tmp_path / "bptt_msm.png"
    out = smoke.run("bptt_msm", f"--plot={plot}")
    (table,) = smoke.tables(out)

    assert table.header[:6] == [
        "T",
        "method",
        "m (slots)",
        "stored (MiB)",
        "memory vs BPTT",
        "forward evals / T",
    ]
    # --tiny: T = 20; budgets 20%, 5%, 2% of T * alpha (alpha = 3), at least 2 slots.
    assert table.column("T") == ["20"] * 4
    assert table.column("m (slots)") == ["all", "12", "3", "2"]
    for row in table.rows:
        length, slots = int(row[0]), row[2]
        evaluations = smoke.number(row[5]) * length
        if slots == "all":
            assert row[1] == "BPTT" and evaluations == length and row[4] == "100.0%"
        else:
            assert row[1] == "BPTT-HSM" and round(evaluations) == hsm_cost(length, int(slots))
            assert smoke.number(row[4]) == round(100 * int(slots) / (3 * length), 1)
        assert smoke.number(row[6]) > 0 and smoke.number(row[8]) > 0
    smoke.assert_png(plot)
    assert f"Picture: `{plot}`" in out and "`--tiny` smoke run, measures nothing" in out
