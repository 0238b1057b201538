"""Smoke test of bench/wavenet.py: naive, fast, exported and student generation rates."""

from tests.bench import smoke


def test_wavenet_tiny():
    out = smoke.run("wavenet")
    (table,) = smoke.tables(out)
    assert table.header == ["method", "samples", "s/call", "samples/s", "x real time", "vs naive"]
    students = [
        f"Parallel WaveNet student {label} (tiny: 1,2, 8/8), `generate` ({mode})"
        for label in ("10,10,10,30 (paper), 64/128", "10,10,10,10, 32/64")
        for mode in ("graph", "XLA")
    ]
    assert table.column("method") == [
        "naive (graph)",
        "fast (graph)",
        "fast (XLA)",
        "exported `generate` (graph)",
        "exported `generate` (--xla)",
        *students,
    ]
    # --tiny: 16 samples of naive generation, 64 of every other kind.
    assert table.column("samples") == ["16"] + ["64"] * 8
    for row in table.rows:
        smoke.number(row[2], low=0)
        samples_per_second = smoke.number(row[3])
        assert samples_per_second > 0
        assert abs(smoke.number(row[4]) - samples_per_second / 16000) < 1e-3 + 1e-3 * (
            samples_per_second / 16000
        )
        assert smoke.number(row[5]) > 0
    assert table.rows[0][5] == "1.0x"
    assert "1 stacks x 3 layers, 8 residual / 16 skip channels" in out
