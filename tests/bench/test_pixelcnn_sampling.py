"""Smoke test of bench/pixelcnn_sampling.py: graph against XLA sampling, test-size PixelCNN."""

from tests.bench import smoke


def test_pixelcnn_sampling_tiny():
    out = smoke.run("pixelcnn_sampling")
    (table,) = smoke.tables(out)
    assert table.header == [
        "batch",
        "graph s/call",
        "XLA s/call",
        "XLA speed-up",
        "XLA images/s",
        "same samples",
    ]
    assert table.column("batch") == ["1", "2"]
    for row in table.rows:
        for cell in row[1:3]:
            smoke.number(cell, low=0)
        assert smoke.number(row[3]) > 0
        assert smoke.number(row[4]) > 0
        assert row[5] in ("yes", "no")
    assert "64 pixels per image, test hyper-parameters (2 layers, 8 filters)" in out
