"""Smoke test of bench/associative_capacity.py: retrieval error against the number of copies."""

from tests.bench import smoke


def test_associative_capacity_tiny(tmp_path):
    plot = tmp_path / "associative_lstm_capacity.png"
    out = smoke.run("associative_capacity", f"--plot={plot}")
    (table,) = smoke.tables(out)

    # --tiny: n = 16 complex units, K = 2 and 4 items, S = 1, 2 and 4 copies.
    assert table.header == ["copies S", "cell state (floats)", "K = 2 items", "K = 4 items"]
    assert table.column("copies S") == ["1", "2", "4"]
    assert table.column("cell state (floats)") == ["32", "64", "128"]
    for row, copies in zip(table.rows, (1, 2, 4)):
        for cell, items in zip(row[2:], (2, 4)):
            measured, predicted = smoke.numbers(cell)
            assert abs(predicted - (items - 1) / copies * (1 + (copies - 1) / 16)) < 1e-3
            assert 0 < measured < 4 * predicted
    # One other unit-modulus item under a unit-modulus key: the error is exactly 1.
    assert smoke.numbers(table.rows[0][2])[0] == 1.0

    smoke.assert_png(plot)
    assert f"Picture: `{plot}`" in out
    assert "`--tiny` smoke run, measures nothing" in out and "n = 16 complex entries" in out
