"""Smoke test of bench/mixture_vae.py: Gaussian against mixture posterior, test-size VAEs."""

import math

from tests.bench import smoke


def test_mixture_vae_tiny():
    out = smoke.run("mixture_vae")
    (table,) = smoke.tables(out)
    # --tiny: 2 importance samples, K = 1 and 2.
    assert table.header == [
        "q(z\\|x)",
        "test -ELBO",
        "test -L_2",
        "weight entropy / max (nats)",
        "ms/step",
    ]
    assert table.column("q(z\\|x)") == ["Gaussian posterior (K=1)", "mixture posterior, K=2"]
    for row, k in zip(table.rows, (1, 2)):
        smoke.number(row[1], low=0)
        smoke.number(row[2], low=0)
        entropy, maximum = smoke.numbers(row[3])
        assert math.isclose(maximum, math.log(k), abs_tol=1e-3)
        assert 0 <= entropy <= maximum + 1e-3
        smoke.number(row[4], low=0)
    assert "`digits` (360 test images); VAE with latent_dim=3, hidden_units=16" in out
