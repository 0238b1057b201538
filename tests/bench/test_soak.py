"""Smoke test of bench/soak.py: three models served under a mixed load while versions change."""

import itertools

from tests.bench import smoke

MODELS = ["pixelcnn", "bytenet_lm", "mixture_vae"]
SIGNATURES = ["serving_default", "log_prob", "sample"]
TRANSPORTS = ["gRPC", "REST"]


def test_soak_tiny():
    out = smoke.run("soak")
    rows, summary = smoke.tables(out)
    assert rows.header == [
        "model",
        "signature",
        "transport",
        "requests",
        "failed",
        "wrong answers",
        "p50 ms",
        "p99 ms",
    ]
    # --tiny: 36 requests round robin over 3 models x 3 signatures x 2 transports.
    assert [row[:3] for row in rows.rows] == [
        list(row) for row in itertools.product(MODELS, SIGNATURES, TRANSPORTS)
    ]
    assert rows.column("requests") == ["2"] * 18
    # Every request is well-formed and asks for the latest version: none may fail, and every
    # version holds the same weights, so every answer equals the first.
    assert rows.column("failed") == ["0"] * 18
    assert rows.column("wrong answers") == ["0"] * 18
    for row in rows.rows:
        p50, p99 = smoke.number(row[6], low=0), smoke.number(row[7], low=0)
        assert p99 >= p50
    values = dict(summary.rows)
    assert values["requests sent (after the warm-up)"] == "36"
    assert values["requests failed"] == "0"
    assert values["wrong answers"] == "0"
    # Version 1 of each model, one more at the start of the rollout half, then version 1 removed.
    assert values["versions written / removed"] == "6 / 3"
    assert values["versions the server loaded / failed to load"] == "6 / 0"
    assert values["newest version served at the end"] == "yes"
    assert values["server alive after the load"] == "yes"
    assert values["server exit code on SIGTERM"] == "0"
    assert values["tracebacks in the server's log"] == "0"
    (rss,) = [key for key in values if key.startswith("server RSS")]
    start, warm, steady, end, peak = smoke.numbers(values[rss])
    assert 0 < start and 0 < warm and 0 < steady and 0 < end <= peak
    assert values["RSS flat with requests (steady half within 5% of warm-up)"] in ("yes", "no")
