"""Smoke test of bench/associative_tasks.py: Associative LSTM against an equal-size LSTM."""

from tests.bench import smoke


def test_associative_tasks_tiny(tmp_path):
    plot = tmp_path / "associative_lstm_tasks.png"
    out = smoke.run("associative_tasks", f"--plot={plot}")
    (table,) = smoke.tables(out)

    assert table.header == [
        "task",
        "model",
        "parameters",
        "sequence error",
        "nats/target",
        "steps / s",
    ]
    assert table.column("task") == ["episodic copy"] * 2 + ["variable assignment"] * 2
    models = table.column("model")
    assert models[0] == models[2] == "Associative LSTM, 4 complex units, 2 copies"
    assert models[1].startswith("LSTM, ") and models[3].startswith("LSTM, ")
    sizes = [smoke.number(cell, low=1) for cell in table.column("parameters")]
    for associative, lstm in zip(sizes[::2], sizes[1::2]):
        assert abs(associative - lstm) <= 0.1 * associative, (associative, lstm)
    for row in table.rows:
        smoke.number(row[3], low=0, high=100)
        smoke.number(row[4], low=0)
        assert smoke.numbers(row[5])[0] == 2

    smoke.assert_png(plot)
    assert f"Learning curves: `{plot}`" in out
