"""Smoke test of bench/pixelcnn_mnist.py: nats/image of the PixelCNNs and the pixel baseline."""

import math

from tests.bench import smoke


def test_pixelcnn_mnist_tiny():
    out = smoke.run("pixelcnn_mnist")
    (table,) = smoke.tables(out)
    assert table.header == [
        "model",
        "test nats/image",
        "test bits/dim",
        "paper (60k binarised MNIST)",
    ]
    assert table.column("model") == [
        "independent pixels (Bernoulli per pixel)",
        "Gated PixelCNN, unconditional",
        "Gated PixelCNN, class-conditional",
    ]
    dims = 8 * 8  # --tiny: binarised 8x8 `digits`
    for row in table.rows:
        nats = smoke.number(row[1], low=0)
        # Binary pixels: at most a few nats per pixel after 2 steps, not a runaway loss.
        assert nats < 5 * dims
        assert math.isclose(smoke.number(row[2]), nats / dims / math.log(2), rel_tol=1e-2)
    assert "`--tiny` smoke run on `digits` (1437 train / 360 test images), 2 steps" in out
