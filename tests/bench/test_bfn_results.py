"""Smoke test of bench/bfn_results.py: BFN bounds on digits, bits/char on text, sample grid."""

import math

from tests.bench import smoke


def test_bfn_results_tiny(tmp_path):
    plot = tmp_path / "bfn_samples.png"
    out = smoke.run("bfn_results", f"--plot={plot}")
    images, text = smoke.tables(out)

    assert images.header == ["model", "test nats/image", "test bits/dim", "paper"]
    # --tiny: n = 2 and 4 for the n-step bounds and the rows of the grid.
    assert images.column("model") == [
        "`bfn_discrete`, L^inf + L^r (continuous time)",
        "`bfn_discrete`, L^n + L^r, n = 2",
        "`bfn_discrete`, L^n + L^r, n = 4",
        "Gated PixelCNN, unconditional (block `pixelcnn_mnist`)",
        "Gated PixelCNN, class-conditional (block `pixelcnn_mnist`)",
    ]
    for row in images.rows[:3]:  # the bfn_discrete bounds on 8x8 `digits`
        nats = smoke.number(row[1], low=0)
        assert math.isclose(smoke.number(row[2]), nats / 64 / math.log(2), rel_tol=1e-2)
    for row in images.rows[3:]:  # the PixelCNN's MNIST numbers, per 28x28 pixel
        nats = smoke.number(row[1], low=0)
        assert math.isclose(smoke.number(row[2]), nats / 784 / math.log(2), rel_tol=1e-2)

    assert text.header == ["model", "test bits/char", "paper"]
    assert [row[0] for row in text.rows] == [
        "unigram (training-split counts, add-one)",
        "bigram (training-split counts, add-one)",
        "`bytenet_lm` (block `bytenet`: windows of 128 bytes, 1200 steps of batch 16)",
        "`bfn_discrete_text`, L^inf + L^r",
    ]
    unigram, bigram, bytenet = (smoke.number(row[1], low=0) for row in text.rows[:3])
    assert bigram < unigram < 8  # English text: the n-grams beat uniform bytes
    assert bytenet < bigram
    bfn, error = smoke.numbers(text.rows[3][1])  # mean ± Monte Carlo standard error
    assert bfn > 0 and 0 <= error < bfn
    assert "averaged over 2 Monte Carlo samples per sequence" in out

    smoke.assert_png(plot)
    assert f"Samples: `{plot}` (rows: n = 2, 4 sampling steps" in out
