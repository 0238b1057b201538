"""Smoke test of bench/kanerva.py: Kanerva Machine against the VAE, recall, denoising picture."""

from tests.bench import smoke


def test_kanerva_tiny(tmp_path):
    plot = tmp_path / "kanerva_denoising.png"
    out = smoke.run("kanerva", f"--plot={plot}")
    bounds, recall = smoke.tables(out)

    # --tiny: 2 training steps per model, the test images scored after each.
    assert bounds.header == ["model", "trained on", "test images", "step 1", "step 2", "steps / s"]
    assert bounds.column("trained on") == [
        "shuffled images",
        "random episodes",
        "one-class episodes",
        "one-class episodes",
        "-",
        "(block `mixture_vae`)",
        "(block `bfn_results`)",
        "(block `pixelcnn_mnist`)",
    ]
    assert bounds.column("test images") == [
        "any",
        "random episodes",
        "one-class episodes",
        "random episodes",
        "any",
        "any",
        "any",
        "any",
    ]
    for row in bounds.rows[:4]:  # the models trained here
        smoke.number(row[3], low=0)
        smoke.number(row[4], low=0)
        assert smoke.numbers(row[5])[0] == 2
    for row in bounds.rows[4:]:  # reference rows: one number, in the last column
        assert row[3] == "-" and row[5] == "-"
        smoke.number(row[4], low=0)

    # --tiny: 2 reads, four corruption levels for each kind of episode.
    assert recall.header == ["episodes", "pixels flipped", "query", "VAE", "read 1", "read 2"]
    assert recall.column("episodes") == ["random"] * 4 + ["one-class"] * 4
    assert recall.column("pixels flipped") == ["0%", "10%", "20%", "30%"] * 2
    for row in recall.rows:
        assert 0 <= smoke.number(row[2]) <= 100
        for cell in row[3:]:
            nats, wrong = smoke.numbers(cell)
            assert 0 < nats < 64 * 14 and 0 <= wrong <= 100  # per 8x8 image
    assert [row[2] for row in recall.rows if row[1] == "0%"] == ["0.0%", "0.0%"]

    smoke.assert_png(plot)
    assert f"Picture: `{plot}` (one-class test episodes)" in out
    assert "`digits` (360 test images); episodes of T = 2 images" in out
