"""Smoke test of bench/act.py: ACT on parity against the time penalty, ponder steps on `text`."""

from tests.bench import smoke


def test_act_tiny(tmp_path):
    parity_plot, text_plot = tmp_path / "act_parity.png", tmp_path / "act_text_ponder.png"
    out = smoke.run("act", f"--parity_plot={parity_plot}", f"--text_plot={text_plot}")
    parity, addition, ponder = smoke.tables(out)

    # --tiny: time penalty 0.1, then the fixed-step network; 2 steps each.
    assert parity.header == [
        "network",
        "parameters",
        "sequence error",
        "ponder steps",
        "nats",
        "steps / s",
    ]
    assert parity.column("network") == ["ACT, tau = 0.1", "one fixed step (M = 1)"]
    sizes = {smoke.number(cell, low=1) for cell in parity.column("parameters")}
    assert len(sizes) == 1  # M = 1 is the same network.
    for row in parity.rows:
        smoke.number(row[2], low=0, high=100)
        smoke.number(row[4], low=0)
        assert smoke.numbers(row[5])[0] == 2
    # --tiny: at most M = 3 ponder steps; the fixed network takes exactly one.
    assert [1 <= smoke.number(cell) <= 3 for cell in parity.column("ponder steps")] == [True] * 2
    assert parity.rows[-1][3] == "1.00"

    # --tiny: addition of 2 numbers of 2 digits at tau = 0.01, then one fixed step.
    assert addition.header == parity.header
    assert addition.column("network") == ["ACT, tau = 0.01", "one fixed step (M = 1)"]
    assert len({smoke.number(cell, low=1) for cell in addition.column("parameters")}) == 1
    assert [1 <= smoke.number(cell) <= 3 for cell in addition.column("ponder steps")] == [True] * 2
    assert addition.rows[-1][3] == "1.00"
    assert "sequences of 1 to 2 numbers (paper: 5) of 1 to 2 digits (paper: 5)" in out

    assert ponder.header == ["input character", "count", "ponder steps"]
    assert ponder.column("input character") == ["space", "letter", "other"]
    # 64 test windows of 16 bytes, each scored on its first 15.
    assert sum(smoke.number(cell) for cell in ponder.column("count")) == 64 * 15
    for cell in ponder.column("ponder steps"):
        smoke.number(cell, low=1, high=3)

    smoke.assert_png(parity_plot)
    smoke.assert_png(text_plot)
    assert f"Plot: `{parity_plot}`" in out and f"Picture: `{text_plot}`" in out
    assert "4-bit parity (paper: 64 bits)" in out
