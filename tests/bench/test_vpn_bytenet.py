"""Smoke test of bench/vpn_bytenet.py: ByteNet speed against length, VPN sampling speed."""

from tests.bench import smoke


def test_vpn_bytenet_tiny():
    out = smoke.run("vpn_bytenet")
    training, generation, sampling, strip = smoke.tables(out)

    assert training.header == [
        "length",
        "batch",
        "bytes/s",
        "GFLOP/s (6 per weight per byte)",
        "of the fp32 limit",
    ]
    assert training.column("length") == ["8", "16"]  # --tiny lengths, 32 bytes per batch
    assert training.column("batch") == ["4", "2"]
    for row in training.rows:
        smoke.number(row[2], low=1)
        smoke.number(row[4], low=0, high=100)

    assert generation.header == ["loop", "length: ms/byte", "p"]
    assert generation.column("loop") == [
        "queues, graph",
        "queues, XLA",
        "naive (whole prefix per byte), graph",
    ]
    for row in generation.rows:
        assert smoke.numbers(row[1])[::2] == [8, 16]  # "8: x, 16: y"
        smoke.number(row[2])  # the fitted exponent: finite (timings at tiny sizes say nothing)

    assert sampling.header == ["batch", "graph s/frame", "XLA s/frame", "XLA speed-up"]
    assert sampling.column("batch") == ["1"]
    assert strip.header == ["rows decoded", "strip ms", "whole frame ms", "strip speed-up"]
    # The golden VPN on 8x8 frames: 1 + 2 rows above a pixel.
    assert strip.rows[0][0] == "4 of 8"
