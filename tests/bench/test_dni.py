"""Smoke test of bench/dni.py: MNIST decoupled at every layer, and copy with truncation."""

from tests.bench import smoke

MNIST_METHODS = [
    "backprop",
    "DNI, linear",
    "DNI, MLP",
    "cDNI, linear",
    "cDNI, MLP",
    "cDNI, MLP + synthetic inputs",
]


def test_dni_tiny(tmp_path):
    plot = tmp_path / "dni_copy_curriculum.png"
    out = smoke.run("dni", f"--plot={plot}")
    mnist, copy = smoke.tables(out)

    # --tiny: one network of 3 layers, every method once, one epoch on 256 digits.
    assert mnist.header == ["layers", "method", "test error", "seconds", "paper test error"]
    assert mnist.column("layers") == ["3"] * len(MNIST_METHODS)
    assert mnist.column("method") == MNIST_METHODS
    for row in mnist.rows:
        smoke.number(row[2], low=0.0, high=100.0)
        smoke.number(row[3], low=0.0)
    assert set(mnist.column("paper test error")) == {"not available offline"}

    # --tiny: k = 2 only, six batches of four sequences per run.
    assert copy.header == ["task", "k", "method", "L reached", "data steps seen", "seconds"]
    assert copy.column("task") == ["copy", "copy", "repeat_copy", "repeat_copy"]
    assert copy.column("k") == ["2"] * 4
    assert copy.column("method") == ["TBPTT", "DNI"] * 2
    for task, _, _, length, seen, seconds in copy.rows:
        assert 1 <= smoke.number(length) <= 7  # L starts at 1, at most one step per batch
        # Each batch holds 4 sequences padded to T(L) steps, L from 1 to at most 7.
        steps = (lambda n: 2 * n + 1) if task == "copy" else (lambda n: n * (2 + 1) + 2)
        smoke.number(seen, low=6 * 4 * steps(1), high=6 * 4 * steps(7))
        smoke.number(seconds, low=0.0)

    smoke.assert_png(plot)
    assert f"Picture: `{plot}`" in out
    assert "`--tiny` smoke run, measures nothing" in out
    assert "not reproduced at its scale" in out
