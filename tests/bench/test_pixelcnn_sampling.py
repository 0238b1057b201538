"""Smoke test of bench/pixelcnn_sampling.py: our PixelCNN beside TFP's, test-size models."""

import re

from tests.bench import smoke


def test_pixelcnn_sampling_tiny():
    out = smoke.run("pixelcnn_sampling")
    sampling, training, machine = smoke.tables(out)
    assert sampling.column("batch") == ["1", "2"]
    for name in ("fast graph", "fast XLA", "naive graph", "TFP"):
        assert all(smoke.number(cell) > 0 for cell in sampling.column(f"{name} s/image"))
    for name in ("fast XLA vs graph", "fast vs naive", "fast vs TFP"):
        assert all(smoke.number(cell) > 0 for cell in sampling.column(name))
    # Cached sampling draws the naive sampler's images, with and without XLA.
    assert sampling.column("same samples") == ["yes", "yes"]

    assert training.header == [
        "model",
        "parameters",
        "depth x width",
        "receptive field",
        "ms/step",
        "vs ours",
    ]
    ours, theirs = training.rows
    assert ours[2] == "2 gated layers x 8" and theirs[2] == "2 gated resnet blocks x 8"
    # Two layers of kernel 3 (the first one too): 1 + 1 rows from the vertical stacks and 1 from
    # the down shift above, 1 + 1 columns either side.
    assert ours[3] == "3 / 2 / 2"
    assert all(smoke.number(row[4]) > 0 for row in training.rows)

    assert machine.header == ["limit", "measured"]
    assert "64 pixels per image (8x8x1), class-conditional, test hyper-parameters" in out
    # Per pixel: layer 0 (mask A, 1 channel in): vertical 2x3x1x16 + link 16x16 + horizontal
    # 1x1x16 + output 8x8 = 432; layer 1: 2x3x8x16 + 16x16 + 2x8x16 + 8x8 = 1344; the output
    # layers 8x16 + 16x2 = 160.
    match = re.search(r"([\d.]+) MFLOP per image \(one forward pass, ([\d,]+) multiply-adds", out)
    assert match and match.group(2) == "1,936"
    assert abs(float(match.group(1)) - 2 * 1936 * 64 / 1e6) < 0.05
    assert re.search(r"\d+% of the batch-1 vector-matrix limit", out)
