"""Smoke test of bench/grid_lstm.py: Grid LSTM against equal-size stacked LSTMs and n-grams."""

from tests.bench import smoke


def _close_sizes(table):
    """The grid (even rows) and its stacked LSTM (odd rows): parameter counts within 15%."""
    sizes = [smoke.number(cell, low=1) for cell in table.column("parameters")]
    for grid, lstm in zip(sizes[::2], sizes[1::2]):
        assert abs(grid - lstm) <= 0.15 * grid, (grid, lstm)


def test_grid_lstm_tiny():
    out = smoke.run("grid_lstm")
    text, parity, addition = smoke.tables(out)

    assert text.header == ["model", "parameters", "bits/char", "steps / s"]
    assert text.column("model") == [
        "Grid LSTM (grid, tied), 2 x 8",
        text.rows[1][0],
        "unigram (training-split counts, add-one)",
        "bigram (training-split counts, add-one)",
    ]
    assert text.rows[1][0].startswith("stacked LSTM, 2 x ")
    _close_sizes(type(text)(text.header, text.rows[:2]))
    bits = [smoke.number(cell, low=0, high=8) for cell in text.column("bits/char")]
    assert bits[3] < bits[2]  # the bigram beats the unigram on English text

    # --tiny: parity of 4 bits, the grid then the stacked LSTM.
    assert parity.header == ["bits k", "model", "parameters", "test error", "steps / s"]
    assert parity.column("bits k") == ["4", "4"]
    _close_sizes(parity)
    for cell in parity.column("test error"):
        smoke.number(cell, low=0, high=100)
    assert "longest k solved (test error <= 1.0%)" in out

    assert addition.header == [
        "model",
        "parameters",
        "sequence accuracy",
        "nats/digit",
        "steps / s",
    ]
    _close_sizes(addition)
    for row in addition.rows:
        smoke.number(row[2], low=0, high=100)
        smoke.number(row[3], low=0)
        assert smoke.numbers(row[4])[0] == 2
    assert "two 2-digit numbers, 2 steps (paper: 15 digits" in out
