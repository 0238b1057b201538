"""Smoke test of bench/snap.py: SnAp's cost per step and copy with a length curriculum."""

from tests.bench import smoke


def test_snap_tiny(tmp_path):
    plot = tmp_path / "snap_copy_curriculum.png"
    out = smoke.run("snap", f"--plot={plot}")
    memory, speed, copy = smoke.tables(out)

    # --tiny: a GRU of k = 8 units, input 2, dense and at sparsity 0.5; T = 8.
    assert memory.header == [
        "k",
        "sparsity",
        "p",
        "BPTT, T steps",
        "SnAp-1 influence",
        "SnAp-2 influence",
        "RTRL influence",
    ]
    assert memory.column("sparsity") == ["0.00", "0.50"]
    dense, sparse = memory.rows
    # Dense GRU: p = 3 k (input + k + 2); SnAp-1 keeps p numbers, RTRL k p, SnAp-2 as RTRL.
    p = 3 * 8 * (2 + 8 + 2)
    assert smoke.numbers(dense[2]) == [p]
    assert smoke.numbers(dense[4]) == [p, 1]
    assert smoke.numbers(dense[5])[0] == smoke.numbers(dense[6])[0] == 8 * p
    assert smoke.numbers(dense[3])[0] == 8 * 4 * 8  # T (G + 1) k
    # Sparse: SnAp-1 still one number per kept parameter; SnAp-2 below RTRL's k p_dense.
    kept = smoke.numbers(sparse[2])[0]
    assert kept < p and smoke.numbers(sparse[4]) == [kept, 1]
    assert kept < smoke.numbers(sparse[5])[0] < smoke.numbers(sparse[6])[0] == 8 * p

    assert speed.header == [
        "k",
        "sparsity",
        "BPTT ms/step",
        *(f"{m} / BPTT" for m in ("SnAp-1", "SnAp-2", "RTRL")),
    ]
    for row in speed.rows:
        for cell in row[2:]:
            smoke.number(cell, low=0.0)

    assert copy.column("method") == ["SnAp-1", "SnAp-2", "TBPTT-1", "BPTT"]
    for row in copy.rows:
        assert 1 <= smoke.number(row[2]) <= 7  # L starts at 1, at most one step per batch
        smoke.number(row[3], low=6 * 4 * 3)  # six batches of four sequences, T >= 3

    smoke.assert_png(plot)
    assert f"Picture: `{plot}`" in out
    assert "`--tiny` smoke run, measures nothing" in out
