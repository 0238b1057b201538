"""Smoke test of bench/acn.py: ACN against its unconditional-prior ablation, daydream PNG."""

import math

from tests.bench import smoke


def test_acn_tiny(tmp_path):
    plot = tmp_path / "acn_daydream.png"
    out = smoke.run("acn", f"--plot={plot}")
    (table,) = smoke.tables(out)
    assert table.header == [
        "model",
        "test KL",
        "test reconstruction",
        "test total (nats/image)",
        "paper",
    ]
    # --tiny: the golden hyper-parameters, K = 2 neighbours.
    assert table.column("model") == [
        "ACN, c~ = the nearest training code",
        "ACN, c~ uniform over the K = 2 nearest (L^ACN)",
        "unconditional prior (ablation: the same networks, p(z) a learned mixture)",
        "independent pixels (block `pixelcnn_mnist`)",
        "Gated PixelCNN, unconditional (block `pixelcnn_mnist`)",
        "Gated PixelCNN, class-conditional (block `pixelcnn_mnist`)",
        "BFN, `bfn_discrete` L^inf + L^r (block `bfn_results`)",
        "VAE, Gaussian posterior, -ELBO (block `mixture_vae`)",
    ]
    for row in table.rows[:3]:  # measured on 8x8 `digits`: the total is KL + reconstruction
        kl, reconstruction = smoke.number(row[1]), smoke.number(row[2], low=0)
        assert math.isclose(smoke.number(row[3]), kl + reconstruction, abs_tol=0.011)
    for row in table.rows[3:]:  # the other models' MNIST numbers
        smoke.number(row[3], low=0)
    assert "ACN 2 Adam steps of batch 4" in out and "the ablation the same 2 steps" in out
    smoke.assert_png(plot)
    assert f"Daydreams: `{plot}`" in out
