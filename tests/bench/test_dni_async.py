"""Smoke test of bench/dni_async.py: backprop, lock-step and asynchronous DNI updates."""

from tests.bench import smoke


def test_dni_async_tiny():
    out = smoke.run("dni_async")
    (table,) = smoke.tables(out)

    # --tiny: one hidden layer of 16 (two modules), 6 timed batches.
    assert table.header == [
        "modules",
        "schedule",
        "ms / batch",
        "speed-up",
        "limit ms / batch",
        "test accuracy",
    ]
    assert table.column("schedule") == [
        "backprop",
        "DNI, lock step",
        "DNI, module by module",
        "DNI, asynchronous",
    ]
    assert table.column("modules") == ["2"] * 4
    for row in table.rows:
        smoke.number(row[2], low=0.0)
        smoke.number(row[5], low=0.0, high=100.0)
    *others, asynchronous = table.rows
    assert all(row[3] == row[4] == "-" for row in others)
    speedup = smoke.number(asynchronous[3], low=0.0)
    ms = [smoke.number(row[2]) for row in (others[2], asynchronous)]
    assert abs(speedup - ms[0] / ms[1]) < 0.01 + 0.01 * speedup  # the column is their ratio
    smoke.number(asynchronous[4], low=0.0)
    assert "`--tiny` smoke run, measures nothing" in out
