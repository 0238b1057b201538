"""Smoke test of bench/serving.py: gRPC Predict against in-process, and server-side batching
under concurrent clients, test-size PixelCNN."""

from tests.bench import smoke


def test_serving_tiny():
    out = smoke.run("serving")
    table, batching = smoke.tables(out)
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
    # The batching table: 1, 8 and 32 clients, each against the server without batching, then
    # the one with --enable_batching (the script checks both answer as the in-process signature).
    assert batching.header == [
        "clients",
        "batching",
        "requests/s",
        "p50 ms",
        "p99 ms",
        "requests/s / off",
    ]
    assert [row[:2] for row in batching.rows] == [
        [clients, label] for clients in ("1", "8", "32") for label in ("off", "on")
    ]
    for row in batching.rows:
        assert smoke.number(row[2]) > 0
        p50, p99 = smoke.number(row[3], low=0), smoke.number(row[4], low=0)
        assert p99 >= p50
        assert smoke.number(row[5]) > 0
    assert batching.column("requests/s / off")[::2] == ["1.00x"] * 3
    assert "2 one-image requests in a loop" in out
