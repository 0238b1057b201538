"""Smoke test of bench/wavenet.py: generation rates, the profile and the machine's limits."""

from tests.bench import smoke

METHODS = [
    "`model.sample` (XLA)",
    "exported `generate` (--xla)",
    "`model.sample` (graph)",
    "exported `generate` (graph)",
]
LIMITS_HEADER = ["limit", "measured"]


def _cell(table, row, name):
    return row[table.header.index(name)]


def test_wavenet_tiny():
    out = smoke.run("wavenet")
    speed, limits, profile, profile_limits = smoke.tables(out)
    assert limits.header == profile_limits.header == LIMITS_HEADER
    assert len(limits.rows) == 4

    # --tiny: batch sizes 1 and 2; 16 naive samples, 64 per XLA call, 32 per graph call.
    expected = [("naive (graph)", "1", "float32", "16")] + [
        (method, batch, dtype, "64" if "XLA" in method or "xla" in method else "32")
        for batch in ("1", "2")
        for dtype in ("float32", "bfloat16")
        for method in METHODS
    ]
    columns = ("method", "batch", "dtype", "samples")
    assert list(zip(*(speed.column(name) for name in columns))) == expected
    for row in speed.rows:
        smoke.number(_cell(speed, row, "s/call"), low=0)
        rate = smoke.number(_cell(speed, row, "samples/s"))
        assert rate > 0
        real_time = smoke.number(_cell(speed, row, "x real time"))
        assert abs(real_time - rate / 16000) < 1e-3 + 1e-3 * rate / 16000
        assert smoke.number(_cell(speed, row, "vs naive")) > 0
        fraction = _cell(speed, row, "GFLOP/s (of limit)")
        if row[0] == "naive (graph)":
            assert _cell(speed, row, "vs naive") == "1.0x" and fraction == "-"
        else:
            assert min(smoke.numbers(fraction)) >= 0
            limit = "matvec" if row[1] == "1" else "matmul"
            assert fraction.endswith(f"of {limit})"), fraction

    # A row per part of the step, cumulative; per batch size: us/step, the part's cost, share.
    assert profile.header[1:] == [
        cell for batch in (1, 2) for cell in (f"batch {batch}: us/step", "part", "share")
    ]
    parts = [row[0] for row in profile.rows]
    assert parts[0].startswith("loop only") and parts[-1] == "+ sampling (= fast XLA generation)"
    assert len(parts) == 6 and all(part.startswith("+ ") for part in parts[1:])
    for first in (1, 4):  # The us/step column of each batch size, then its parts.
        totals = [smoke.number(row[first], low=0) for row in profile.rows]
        costs = [smoke.number(row[first + 1]) for row in profile.rows]
        assert abs(sum(costs) - totals[-1]) < 0.1 * len(costs)
        assert profile.rows[-1][first + 2] != "-"
    assert "1 stacks x 3 layers, 8 residual / 16 skip channels" in out
    # Tiny model (1 x 3 layers, 8 / 16 channels, 256 outputs): 3 * 2 * 8 * 16 dilated,
    # 2 * 8 * 8 + 3 * 8 * 16 residual/skip, 16 * 16 + 16 * 256 head multiply-adds.
    assert "dilated convs 768, residual/skip 1x1s 512, output head 4,352" in out
