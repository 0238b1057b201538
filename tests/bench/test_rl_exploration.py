"""Smoke test of bench/rl_exploration.py: NoisyNet against epsilon-greedy DQN and A3C."""

import re

from tests.bench import smoke


def test_rl_exploration_tiny(tmp_path):
    plot = tmp_path / "rl_exploration.png"
    out = smoke.run("rl_exploration", f"--plot={plot}")
    (table,) = smoke.tables(out)
    assert table.header == [
        "method",
        "task",
        "frames",
        "final return (mean ± std over seeds)",
        "per seed",
        "wall-clock s per run",
    ]
    # --tiny: CartPole, seed 0, 500 frames for every method.
    assert [row[:3] for row in table.rows] == [
        [method, "CartPole-v1", "500"]
        for method in ("DQN (epsilon-greedy)", "NoisyNet-DQN", "A3C", "NoisyNet-A3C")
    ]
    for row in table.rows:
        # Returns of the episodes ending in the last 100 frames: CartPole lengths, 1 to 500.
        mean, std = smoke.numbers(row[3])
        assert 1 <= mean <= 500 and std == 0  # one seed
        assert smoke.number(row[4], low=1, high=500) == mean
        smoke.number(row[5], low=0)
    episodes = re.findall(r"seed 0: (\d+) episodes", out)
    assert len(episodes) == 4 and all(int(n) >= 1 for n in episodes)
    smoke.assert_png(plot)
    assert f"Curves: [{plot}]({plot})" in out
