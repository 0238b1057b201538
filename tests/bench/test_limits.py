"""Smoke test of bench/limits.py: this machine's limits, as the speed tables print them."""

from tests.bench import smoke


def test_limits_tiny():
    out = smoke.run("limits")
    (table,) = smoke.tables(out)
    assert table.header == ["limit", "measured"]
    assert [row[0] for row in table.rows] == [
        "fp32 matrix product, 256^2",
        "bf16 matrix product, 256^2",
        "fp32 batch-1 vector-matrix chain, 32^2 (XLA loop)",
        "NumPy copy, 8 MiB (read + written)",
    ]
    fp32, bf16, matvec, copy = (smoke.numbers(row[1])[0] for row in table.rows)
    assert min(fp32, bf16, matvec, copy) > 0
    # A dependent chain of batch-1 products cannot beat one large product.
    assert matvec < fp32
