"""Smoke test of bench/curriculum.py: Exp3.S against tf-agents' Exp3Agent, and syllabi."""

from tests.bench import smoke


def test_curriculum_tiny(tmp_path):
    plot = tmp_path / "curriculum_probabilities.png"
    out = smoke.run("curriculum", f"--plot={plot}")
    bandits, syllabi = smoke.tables(out)

    # --tiny: 120 pulls, checkpoints at 30, 60 and 120.
    assert bandits.header == [
        "bandit",
        "algorithm",
        *(f"regret @ {n}" for n in (30, 60, 120)),
        *(f"p(best) @ {n}" for n in (30, 60, 120)),
    ]
    assert bandits.column("bandit") == ["stationary"] * 2 + ["switching"] * 2
    assert bandits.column("algorithm") == ["Exp3.S (tfgen)", "Exp3Agent (tf-agents)"] * 2
    for row in bandits.rows:
        regrets = [smoke.number(cell, 0, n * 0.6) for cell, n in zip(row[2:5], (30, 60, 120))]
        assert regrets == sorted(regrets)  # cumulative regret never falls
        for cell in row[5:]:
            smoke.number(cell, 0, 1)

    # --tiny: one signal (a complexity gain), so uniform sampling of the variational model too.
    assert syllabi.column("syllabus") == [
        "uniform",
        "target only",
        "hand-designed",
        "gradient_variational_complexity_gain",
        "uniform (variational)",
    ]
    assert syllabi.column("share of target batches")[1] == "1.00"
    for row in syllabi.rows:
        reached = row[1]
        assert reached == "> 20" or 0 < smoke.number(reached) <= 20
        smoke.number(row[2], 0, 1)
        smoke.number(row[3], 0, 1)

    smoke.assert_png(plot)
    assert f"Picture: `{plot}`" in out
    assert "`--tiny` smoke run, measures nothing" in out and "4 tasks (l <= 2, r <= 2" in out
