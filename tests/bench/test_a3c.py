"""Smoke test of bench/a3c.py: A3C on CartPole with 1 and 2 threads, 400 frames."""

from tests.bench import smoke


def test_a3c_tiny():
    out = smoke.run("a3c")
    (table,) = smoke.tables(out)
    windows = ["0-0.1k", "0.1-0.2k", "0.2-0.3k", "0.3-0.4k"]  # --tiny: 400 frames
    assert table.header == (
        ["threads", "seed"] + [f"return {w}" for w in windows] + ["frames/s", "wall-clock s"]
    )
    assert [row[:2] for row in table.rows] == [["1", "0"], ["2", "0"]]
    for row in table.rows:
        for cell in row[2:6]:
            # CartPole episodes end within a 100-frame window long before learning; a
            # return is the episode's length, 1 to 500.
            smoke.number(cell, low=1, high=500)
        assert smoke.number(row[6]) > 0
        assert smoke.number(row[7]) > 0
    assert "A3C, CartPole-v1, 400 frames per run" in out
