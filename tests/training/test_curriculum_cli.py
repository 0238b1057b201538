"""`python -m training --model NAME --curriculum SIGNAL`: the automated curriculum runner.

In-process runs of `training.curriculum.train_curriculum` on a tiny
repeat-copy curriculum (4 tasks) with a tiny LSTM `grid_lstm`: the run
directory, the TensorBoard record, the rewards and bandit weights against a
NumPy reference written from arXiv 1704.03003 (Sec. 3, 3.1), resuming, and
export; the flag checks of the CLI in-process; one real CLI run in a
subprocess.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from absl import app, flags

from export import saved_model
from tfgen import run_dir
from tfgen.algorithms import curriculum as curriculum_lib
from tfgen.run_dir import RunDir
from training import __main__ as cli
from training import curriculum
from training import flags as training_flags

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = "grid_lstm"
HPARAMS = "core=lstm,units=8,num_layers=1"
OPTIONS = {"max_len": 2, "max_repeats": 2, "num_bits": 3}  # Tasks (l, r), l, r in {1, 2}.
NAMES = ["l=1,r=1", "l=1,r=2", "l=2,r=1", "l=2,r=2"]
SEQ_LEN = 2 * (2 + 1) + 2  # max_len (max_repeats + 1) + 2.
# 1704.03003 Sec. 5: the Exp3.S settings of the paper's experiments.
ETA, BETA, EPSILON, ALPHA = 1e-3, 0.0, 0.05, 1e-3


def _train(signal, model_dir, steps, **kwargs):
    kwargs = {"checkpoint_every": 2, "eval_batches": 0, "verbose": 0, **kwargs}
    return curriculum.train_curriculum(
        MODEL,
        signal,
        steps=steps,
        batch_size=4,
        model_dir=str(model_dir),
        hparams=HPARAMS,
        dataset_options=OPTIONS,
        **kwargs,
    )


@pytest.fixture(scope="module")
def prediction_run(tmp_path_factory):
    """A 5-step prediction-gain run: (model_dir, model, syllabus)."""
    model_dir = tmp_path_factory.mktemp("curriculum") / "run"
    model, syllabus = _train("prediction_gain", model_dir, 5, eval_batches=1)
    return str(model_dir), model, syllabus


def _scalars(log_dir):
    """`{tag: {step: value}}` from the run's TensorBoard event files."""
    scalars = {}
    for root, _, files in os.walk(log_dir):
        for name in files:
            for event in tf.compat.v1.train.summary_iterator(os.path.join(root, name)):
                for value in event.summary.value:
                    values = scalars.setdefault(value.tag, {})
                    values[event.step] = float(tf.make_ndarray(value.tensor))
    return scalars


def _reference_rewards(gains):
    """1704.03003 Sec. 3.1: each gain mapped to [-1, 1] by the quantiles of the earlier ones."""
    rewards = []
    for t, gain in enumerate(gains):
        if t == 0:
            rewards.append(0.0)  # No history yet: the middle of the range.
            continue
        q_lo, q_hi = np.percentile(gains[:t], 20), np.percentile(gains[:t], 80)
        if gain < q_lo:
            rewards.append(-1.0)
        elif gain > q_hi:
            rewards.append(1.0)
        else:
            rewards.append(2.0 * (gain - q_lo) / (q_hi - q_lo) - 1.0)
    return np.array(rewards)


def _reference_exp3s(num_tasks, tasks, rewards):
    """1704.03003 Sec. 3, Eqs. 1-2: (policy before each step [T, N], final weights [N])."""
    w = np.zeros(num_tasks)
    policies = []
    for task, reward in zip(tasks, rewards):
        pi = (1 - EPSILON) * np.exp(w) / np.exp(w).sum() + EPSILON / num_tasks
        policies.append(pi)
        r_tilde = (reward * (np.arange(num_tasks) == task) + BETA) / pi
        e = np.exp(w + ETA * r_tilde)
        w = np.log(
            [
                (1 - ALPHA) * e[i] + ALPHA / (num_tasks - 1) * (e.sum() - e[i])
                for i in range(num_tasks)
            ]
        )
    return np.array(policies), w


def test_run_writes_config_checkpoints_state_and_picture(prediction_run):
    model_dir, _, syllabus = prediction_run
    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    assert config["model"] == MODEL and config["dataset"] == "repeat_copy"
    assert config["curriculum"] == "prediction_gain" and config["seed"] == 0
    assert config["dataset_options"] == OPTIONS
    assert config["hparams"]["units"] == 8 and config["hparams"]["seq_len"] == SEQ_LEN

    names = sorted(os.listdir(os.path.join(model_dir, "checkpoints")))
    assert [n for n in names if n.endswith(".index")] == [f"ckpt-{s}.index" for s in (2, 4, 5)]
    assert [n for n in names if n.endswith(".json")] == [f"curriculum-{s}.json" for s in (2, 4, 5)]
    with open(os.path.join(model_dir, "checkpoints", "curriculum-4.json")) as f:
        state = json.load(f)
    assert state["step"] == 4 and state["tasks"] == syllabus.tasks[:4].tolist()
    assert sum(state["batches"]) >= 4  # One training batch per step, each from a task.

    assert syllabus.task_names == NAMES and len(syllabus.tasks) == 5
    assert set(syllabus.tasks) <= set(range(len(NAMES)))
    np.testing.assert_allclose(syllabus.probabilities.sum(1), 1.0, rtol=1e-12)
    assert np.all(np.abs(syllabus.rewards) <= 1.0) and len(syllabus.gains) == 5
    assert np.isfinite(syllabus.test_metrics["nats_per_target"])

    plot = os.path.join(model_dir, "curriculum.png")
    assert syllabus.plot == plot
    image = tf.image.decode_png(tf.io.read_file(plot))
    assert image.shape[0] > 100 and image.shape[1] > 100


def test_tensorboard_records_loss_task_reward_and_policy(prediction_run):
    model_dir, _, syllabus = prediction_run
    scalars = _scalars(os.path.join(model_dir, "logs"))
    steps = list(range(1, 6))
    for tag in ("loss", "task", "gain", "reward"):
        assert sorted(scalars[tag]) == steps, tag
    assert [scalars["task"][s] for s in steps] == syllabus.tasks.tolist()
    np.testing.assert_allclose([scalars["reward"][s] for s in steps], syllabus.rewards, atol=1e-6)
    assert all(np.isfinite(scalars["loss"][s]) and scalars["loss"][s] > 0 for s in steps)
    # The policy each task was drawn from, logged live, is the replayed one of the syllabus.
    logged = np.array([[scalars[f"probability/{n}"][s] for n in NAMES] for s in steps])
    np.testing.assert_allclose(logged.sum(1), 1.0, atol=1e-6)
    np.testing.assert_allclose(logged, syllabus.probabilities, atol=1e-7)


def test_rewards_and_bandit_follow_the_paper(prediction_run):
    model_dir, _, syllabus = prediction_run
    np.testing.assert_allclose(syllabus.rewards, _reference_rewards(syllabus.gains), atol=1e-12)
    policies, weights = _reference_exp3s(len(NAMES), syllabus.tasks, syllabus.rewards)
    np.testing.assert_allclose(syllabus.probabilities, policies, rtol=1e-12)
    np.testing.assert_allclose(syllabus.weights, weights, rtol=1e-9, atol=1e-15)
    with open(os.path.join(model_dir, "checkpoints", "curriculum-5.json")) as f:
        np.testing.assert_array_equal(json.load(f)["weights"], syllabus.weights)
    assert np.any(syllabus.weights != 0.0)


def test_curriculum_run_exports_like_an_ordinary_run(prediction_run, tmp_path):
    model_dir, model, _ = prediction_run
    restored = saved_model.load_trained(model_dir, MODEL)
    path = saved_model.export_model(restored, str(tmp_path / "export" / MODEL))
    served = tf.saved_model.load(path).signatures["serving_default"]
    batch = next(
        iter(curriculum_lib.repeat_copy_tasks(batch_size=2, split="test", **OPTIONS)[1][-1])
    )
    expected = model.predict_targets(batch["inputs"])["probabilities"]
    np.testing.assert_allclose(
        served(inputs=batch["inputs"])["probabilities"], expected, rtol=1e-5, atol=1e-6
    )


def test_resume_restores_the_syllabus_state(tmp_path, capsys):
    """Killed at step 3 and restarted, a run ends as the uninterrupted one does.

    `mean_prediction_gain` draws an extra batch of a uniformly chosen task each
    step, so the task-draw generator and each task's data stream must resume
    where they stopped too, not only the bandit's weights and the reservoir.
    """
    _, reference = _train("mean_prediction_gain", tmp_path / "reference", 6, checkpoint_every=3)
    model_dir = tmp_path / "run"
    _, first = _train("mean_prediction_gain", model_dir, 3, checkpoint_every=3)
    with open(model_dir / "checkpoints" / "curriculum-3.json") as f:
        saved = np.array(json.load(f)["weights"])
    assert np.any(saved != 0.0)
    np.testing.assert_array_equal(saved, first.weights)
    capsys.readouterr()

    model, resumed = _train("mean_prediction_gain", model_dir, 6, checkpoint_every=3, verbose=1)
    assert "at step 3." in capsys.readouterr().out
    assert int(model.optimizer.iterations.numpy()) == 6
    run = RunDir(str(model_dir))
    assert run_dir.checkpoint_config(run.latest_checkpoint()) == run.read_config()
    assert run.read_config()["batch_size"] == 4
    np.testing.assert_array_equal(resumed.tasks[:3], first.tasks)
    np.testing.assert_array_equal(resumed.tasks, reference.tasks)
    np.testing.assert_allclose(resumed.gains, reference.gains, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(resumed.weights, reference.weights, rtol=1e-6, atol=1e-12)
    # Re-zeroed weights would give a step-4 policy of the initial weights, not of the saved ones.
    pi = (1 - EPSILON) * np.exp(saved) / np.exp(saved).sum() + EPSILON / len(NAMES)
    np.testing.assert_allclose(resumed.probabilities[3], pi, rtol=1e-12)


@pytest.fixture
def parse():
    """Parses training flags in-process: `parse("--model", ...)`; unparsed afterwards."""
    training_flags.define_flags()
    yield lambda *argv: flags.FLAGS(["training", *argv])
    flags.FLAGS.unparse_flags()


def test_curriculum_flag_takes_the_signals_and_uniform(parse):
    parse("--model", MODEL, "--model_dir", "unused")
    assert flags.FLAGS["curriculum"].parser.enum_values == [
        *curriculum_lib.SIGNALS,
        curriculum_lib.UNIFORM,
    ]
    assert flags.FLAGS.curriculum is None
    flags.FLAGS.unparse_flags()
    with pytest.raises(flags.IllegalFlagValueError, match="uniform"):
        parse("--model", MODEL, "--model_dir", "unused", "--curriculum", "loss")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "a3c"], "expected a sequence-task model .* got agent 'a3c'"),
        (["--model", "pixelcnn"], "expected a sequence-task model .* got model 'pixelcnn'"),
        (["--model", MODEL, "--dataset", "digits"], "expected no --dataset .* got --dataset"),
        (["--model", MODEL, "--strategy", "mirrored"], "expected --strategy left at its default"),
        (["--model", MODEL, "--env", "CartPole-v1"], "expected --env left at its default"),
    ],
)
def test_cli_usage_errors(parse, tmp_path, argv, message):
    parse(*argv, "--curriculum", "prediction_gain", "--model_dir", str(tmp_path / "run"))
    with pytest.raises(app.UsageError, match=message):
        cli.main(["training"])
    assert not os.path.exists(tmp_path / "run")


def test_complexity_signal_without_noisy_layers_fails_before_training(parse, tmp_path):
    model_dir = tmp_path / "run"
    parse(
        *("--model", MODEL, "--hparams", HPARAMS, "--model_dir", str(model_dir)),
        *("--curriculum", "gradient_variational_complexity_gain", "--steps", "2"),
    )
    with pytest.raises(ValueError, match="NoisyDense"):
        cli.main(["training"])
    assert not os.path.exists(model_dir)  # No config, no checkpoint: nothing ran.


def test_library_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="signal: expected one of"):
        _train("loss", tmp_path, 1)
    with pytest.raises(ValueError, match=r"expected keys among \['max_len'"):
        curriculum.repeat_copy_options("max_len=2,length=3")
    with pytest.raises(ValueError, match="got model 'pixelcnn'"):
        curriculum.check_model("pixelcnn")
    with pytest.raises(ValueError, match="steps: expected an int >= 1"):
        _train("uniform", tmp_path, 0)
    assert curriculum.sequence_models() == ["act", "associative_lstm", "grid_lstm", "sam"]


def test_cli_uniform_run(tmp_path):
    model_dir = tmp_path / "run"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [REPO, env.get("PYTHONPATH")]))
    env.pop("TF_CONFIG", None)
    options = ",".join(f"{key}={value}" for key, value in OPTIONS.items())
    result = subprocess.run(
        [
            *(sys.executable, "-m", "training", "--model", MODEL, "--curriculum", "uniform"),
            *("--hparams", HPARAMS, "--dataset_options", options, "--steps", "4"),
            *("--batch_size", "4", "--checkpoint_every", "2", "--eval_batches", "1"),
            *("--model_dir", str(model_dir)),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Trained to step 4 of 4." in result.stdout
    assert f"test (target task {NAMES[-1]}) " in result.stdout
    assert "nats_per_target=" in result.stdout
    assert "task:" in result.stdout and "loss:" in result.stdout  # The progress bar.
    with open(model_dir / "config.json") as f:
        assert json.load(f)["curriculum"] == "uniform"
    with open(model_dir / "checkpoints" / "curriculum-4.json") as f:
        state = json.load(f)
    assert len(state["tasks"]) == 4 and state["rewards"] == [] and state["gains"] == []
    assert state["weights"] == [0.0] * len(NAMES)  # The bandit plays no part.
    scalars = _scalars(model_dir / "logs")
    assert "reward" not in scalars and sorted(scalars["task"]) == [1, 2, 3, 4]
    for name in NAMES:
        assert set(scalars[f"probability/{name}"].values()) == {0.25}
    assert os.path.getsize(model_dir / "curriculum.png") > 0
