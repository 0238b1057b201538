"""Smoke test of bench/parallel_wavenet.py: FLOPs, fp32/bf16 student speed, KLs, profiles."""

from tests.bench import smoke

# The tiny student: flows of 1 and 2 layers (dilations 1 and 1, 2), 8 residual / 8 skip
# channels, 4 speakers, filter width 2; --tiny: 256 samples, batches 1 and 2.
R, S, G, SAMPLES = 8, 8, 4, 256
KERNELS = (
    2 * (2 * 1 * R + S * S + S * 2)  # two flows: input conv, head
    + 3 * (2 * R * 2 * R + R * S)  # three layers: dilated conv, skip 1x1
    + 1 * R * R  # residual 1x1s, but in each flow's last layer
)


def test_parallel_wavenet_tiny():
    out = smoke.run("parallel_wavenet")
    flops, speed, kl, profile_fp32, profile_bf16, limits = smoke.tables(out)

    assert flops.header == ["FLOPs per sample", "count"]
    counted, compiled, speaker, padding = (smoke.number(row[1]) for row in flops.rows)
    assert counted == 2 * KERNELS
    # The HLO's dots and convolutions: the same, plus the per-clip speaker projections
    # (3 layers x G x 2R, over 256 samples), no padding at dilations 1 and 2.
    assert speaker == 2 * 3 * G * 2 * R / SAMPLES
    assert abs(compiled - counted - speaker) < 0.1 and abs(padding) < 0.1

    flows, modes, batches = (speed.column(name) for name in ("flows", "mode", "batch"))
    assert list(zip(flows, modes, batches)) == [
        (p, m, b) for p in ("fp32", "bf16") for m in ("graph", "XLA") for b in ("1", "2")
    ]
    peaks = {
        "fp32": smoke.numbers(limits.rows[0][1])[0],
        "bf16": smoke.numbers(limits.rows[1][1])[0],
    }
    measured = (
        speed.column(name) for name in ("s/call", "samples/s", "x real time", "GFLOP/s", "of peak")
    )
    for precision, batch, seconds, rate, real_time, gflops, of_peak in zip(
        flows, batches, *measured
    ):
        rate, seconds = smoke.number(rate, low=0), smoke.number(seconds)
        assert abs(seconds - int(batch) * SAMPLES / rate) < 2e-3 * max(1.0, seconds)
        assert abs(smoke.number(real_time) - rate / 16000) < 0.01 + 1e-3 * rate / 16000
        gflops = smoke.number(gflops, low=0)
        assert abs(gflops - rate * counted / 1e9) < 0.06 + 1e-3 * gflops
        assert abs(smoke.number(of_peak) - 100 * gflops / peaks[precision]) < 1 + 1e-2 * gflops

    assert kl.column("student") == ["fp32 flows", "bf16 flows"]
    fp32, bf16 = (smoke.number(row[1]) for row in kl.rows)
    assert abs(smoke.number(kl.rows[1][2]) - 100 * (bf16 / fp32 - 1)) < 0.01
    assert abs(bf16 / fp32 - 1) < 0.01

    for profile in (profile_fp32, profile_bf16):
        assert profile.header == ["pass does", "ms / call", "part", "share", "part GFLOP/s"]
        assert profile.column("pass does")[-1] == "+ output head (= the student's pass)"
        totals = [smoke.number(row[1]) for row in profile.rows]
        parts = [smoke.number(row[2]) for row in profile.rows]
        assert abs(sum(parts) - totals[-1]) < 0.1 * len(parts)
    assert "Where the time goes, fp32 flows" in out and "Where the time goes, bf16 flows" in out
    assert limits.header == ["limit", "measured"]
