"""Smoke test of bench/serving.py: gRPC Predict against in-process, test-size PixelCNN."""

from tests.bench import smoke


def test_serving_tiny():
    out = smoke.run("serving")
    (table,) = smoke.tables(out)
    assert table.header == [
        "batch",
        "path",
        "p50 ms",
        "p99 ms",
        "requests/s",
        "p50 / in-process p50",
    ]
    # --tiny: batch sizes 1 and 2, each through both paths (the script itself checks that
    # the server's log-likelihoods equal the in-process ones).
    assert [row[:2] for row in table.rows] == [
        ["1", "in-process"],
        ["1", "gRPC"],
        ["2", "in-process"],
        ["2", "gRPC"],
    ]
    for row in table.rows:
        p50, p99 = smoke.number(row[2], low=0), smoke.number(row[3], low=0)
        assert p99 >= p50
        assert smoke.number(row[4]) > 0
        assert smoke.number(row[5]) > 0
    assert table.column("p50 / in-process p50")[::2] == ["1.00x", "1.00x"]
    assert "8x8 images, test hyper-parameters" in out
