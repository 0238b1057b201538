"""Smoke test of bench/draw.py: DRAW bounds with and without attention, sampling, figures."""

import math

from tests.bench import smoke


def test_draw_tiny(tmp_path):
    canvas, glimpses = tmp_path / "draw_canvas.png", tmp_path / "draw_glimpses.png"
    out = smoke.run("draw", f"--plot={canvas}", f"--glimpse_plot={glimpses}")
    bounds, sampling = smoke.tables(out)

    assert bounds.header == [
        "model",
        "test nats/image (<=)",
        "L^x",
        "L^z",
        "training",
        "paper (60k binarised MNIST)",
    ]
    assert bounds.column("model") == [
        "`draw`, with attention",
        "`draw`, without attention",
        "independent pixels (Bernoulli per pixel)",
        "Gated PixelCNN, unconditional (block `pixelcnn_mnist`)",
        "Gated PixelCNN, class-conditional (block `pixelcnn_mnist`)",
        "BFN `bfn_discrete`, L^inf + L^r (block `bfn_results`)",
        "VAE, Gaussian posterior, -ELBO (block `mixture_vae`)",
    ]
    dims = 8 * 8  # --tiny: binarised 8x8 `digits`
    for row, paper in zip(bounds.rows[:2], ("DRAW <= 80.97", "DRAW without attention <= 87.40")):
        nats = smoke.number(row[1], low=0, high=5 * dims)  # 2 steps: no runaway loss
        reconstruction, latent = smoke.number(row[2], low=0), smoke.number(row[3], low=0)
        assert math.isclose(nats, reconstruction + latent, abs_tol=0.02)
        assert smoke.numbers(row[4])[0] == 2  # "2 steps, N s": the --tiny step count
        assert row[5] == paper
    smoke.number(bounds.rows[2][1], low=0, high=dims * math.log(2))  # independent pixels

    assert sampling.header == ["model", "graph s/call", "XLA s/call", "XLA speed-up"]
    assert sampling.column("model") == ["DRAW with attention", "DRAW without attention"]
    for row in sampling.rows:
        for cell in row[1:]:
            smoke.number(cell, low=0)

    smoke.assert_png(canvas)
    smoke.assert_png(glimpses)
    assert "`--tiny` smoke run, measures nothing: `draw` at test size (T = 3 glimpses" in out
    assert f"Canvases: `{canvas}`; read glimpses: `{glimpses}`" in out
