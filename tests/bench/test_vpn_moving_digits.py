"""Smoke test of bench/vpn_moving_digits.py: VPN against the frame-independent PixelCNN."""

import math

from tests.bench import smoke
from tests.conformance import goldens


def test_vpn_moving_digits_tiny(tmp_path):
    plot = tmp_path / "vpn_continuations.png"
    out = smoke.run("vpn_moving_digits", f"--plot={plot}")
    scores, sampling = smoke.tables(out)

    assert scores.header == ["model", "test nats/frame", "training", "paper (Moving MNIST 64x64)"]
    assert scores.column("model") == [
        "`vpn`",
        "`vpn`, `temporal_context=False` (PixelCNN alone)",
        "independent pixels (mean grey level per position)",
        "data entropy sum H(y): the lower bound",
    ]
    values = goldens.GOLDENS["vpn"].dataset_options["frame_size"] ** 2  # --tiny: golden frames
    bound = smoke.number(scores.rows[3][1], low=0)
    for row in scores.rows[:3]:
        # Cross-entropies of grey targets: at least the data's entropy, no runaway loss.
        smoke.number(row[1], low=bound, high=2 * values * math.log(2))
    for row in scores.rows[:2]:
        assert smoke.numbers(row[2])[0] == 2  # "2 steps, N s": the --tiny step count
    assert scores.column("paper (Moving MNIST 64x64)")[0] == "VPN 87.6"

    assert sampling.header == ["model", "frames x clips", "seconds"]
    assert sampling.column("frames x clips") == ["2 x 1", "2 x 1"]
    smoke.assert_png(plot)
