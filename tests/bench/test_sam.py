"""Smoke test of bench/sam.py: Sparse Access Memory against the dense core, cost and learning."""

from tests.bench import smoke

COST_HEADER = [
    "N",
    "method",
    "ms / training step",
    "ms / time step",
    "peak MiB / training step",
    "KiB / time step",
    "dense time / time",
    "dense memory / memory",
]
LEARNING_HEADER = [
    "task",
    "core",
    "nats/bit",
    "bit errors / sequence",
    "first step under 0.35 nats/bit",
    "steps / s",
]
SPARSE = ("SAM (lsh)", "SAM (exact)")


def _check_cost(table):
    assert table.header == COST_HEADER
    # --tiny: every method at N = 2^6; no XLA, so no graph-mode rows.
    expected = [("2^6", method) for method in (*SPARSE, "dense")]
    assert [(row[0], row[1]) for row in table.rows] == expected
    for row in table.rows:
        smoke.number(row[2], low=1e-6)  # ms per training step
        smoke.number(row[3])  # marginal ms per time step: T = 6, T1 = 1, noise may dominate
        smoke.number(row[4], low=1e-6)  # peak MiB: every call touches some new pages
        smoke.number(row[5])  # marginal KiB per time step, as noisy
        if row[1] == "dense":
            assert row[6] == row[7] == "1x"
        else:
            smoke.number(row[6], low=1e-6)
            smoke.number(row[7], low=1e-6)


def _check_learning(table):
    assert table.header == LEARNING_HEADER
    # --tiny: the LSH core and the dense core on both tasks, 2 steps each.
    assert [(row[0], row[1]) for row in table.rows] == [
        (task, core) for task in ("copy", "associative recall") for core in ("SAM (lsh)", "dense")
    ]
    for row in table.rows:
        smoke.number(row[2], low=1e-6)  # nats per bit
        smoke.number(row[3], low=0, high=6)  # bit errors per sequence: at most 2 vectors of 3 bits
        assert row[4] == "-" or 1 <= smoke.number(row[4]) <= 2
        assert smoke.numbers(row[5])[0] == 2


def test_sam_tiny(tmp_path):
    scaling, learning = tmp_path / "sam_scaling.png", tmp_path / "sam_learning.png"
    out = smoke.run("sam", f"--plot={scaling}", f"--learning_plot={learning}")
    cost, learn = smoke.tables(out)

    _check_cost(cost)
    _check_learning(learn)
    for method in SPARSE:
        assert f"At N = 2^6, the largest N both ran, {method} is " in out
    assert out.count("`--tiny` smoke run, measures nothing") == 2
    smoke.assert_png(scaling)
    smoke.assert_png(learning)
    assert f"Picture: `{scaling}`" in out and f"Learning curves: `{learning}`" in out
