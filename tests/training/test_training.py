"""`python -m training` end to end, resume after SIGKILL, and the library API.

Runs the real CLI in subprocesses on the embedded `digits` data with the
registry's tiny `pixelcnn` test hyper-parameters.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

import training
from tests.conformance import goldens
from tfgen.run_dir import RunDir

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = goldens.hparams_flag("pixelcnn")
BASE_FLAGS = ["--model", "pixelcnn", "--dataset", "digits", "--hparams", TINY, "--batch_size", "16"]


def _env():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [REPO, env.get("PYTHONPATH")]))
    env.pop("TF_CONFIG", None)
    return env


def _train_cmd(*flags):
    return [sys.executable, "-m", "training", *BASE_FLAGS, *flags]


def _run(cmd, cwd, timeout=240):
    result = subprocess.run(
        cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def _checkpoint_step(model_dir):
    latest = tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints"))
    if latest is None:
        return None
    return int(tf.train.load_checkpoint(latest).get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE"))


@pytest.mark.slow
def test_cli_end_to_end(tmp_path):
    model_dir = str(tmp_path / "run")
    result = _run(
        _train_cmd(
            "--steps",
            "12",
            "--checkpoint_every",
            "5",
            "--eval_batches",
            "2",
            "--jit_compile",
            "--model_dir",
            model_dir,
        ),
        tmp_path,
    )
    lines = result.stdout.strip().splitlines()
    assert lines[-1].startswith("test ") and "bits_per_dim=" in lines[-1], result.stdout
    assert "Trained to step 12 of 12." in result.stdout

    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    assert config["model"] == "pixelcnn" and config["dataset"] == "digits"
    assert config["hparams"]["image_shape"] == [8, 8, 1]
    for key, value in goldens.GOLDENS["pixelcnn"].hparams.items():
        assert config["hparams"][key] == value

    assert _checkpoint_step(model_dir) == 12  # Every 5 steps and at the end.
    names = os.listdir(os.path.join(model_dir, "checkpoints"))
    assert "ckpt-10.index" in names and "ckpt-12.index" in names
    events = [
        name
        for _, _, files in os.walk(os.path.join(model_dir, "logs"))
        for name in files
        if name.startswith("events.out.tfevents")
    ]
    assert events


@pytest.mark.slow
def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path):
    """A run killed with SIGKILL and restarted ends exactly where a clean run does.

    The killed run is stopped as soon as its first checkpoint exists. Started
    again with the same flags, it restores model, optimizer slots and
    `optimizer.iterations` from the latest checkpoint and feeds the data stream
    from the restored step on (the stream is a function of `--seed`), so
    with `--deterministic` its final weights equal those of a reference run
    that was never interrupted, bit for bit, and its step count is `--steps`.
    """
    steps, every = 200, 20
    flags = [
        "--steps",
        str(steps),
        "--checkpoint_every",
        str(every),
        "--eval_batches",
        "0",
        "--deterministic",
        "--seed",
        "3",
    ]
    reference = _run(
        _train_cmd(
            *flags,
            "--model_dir",
            str(tmp_path / "ref"),
            "--final_weights",
            str(tmp_path / "ref.npz"),
        ),
        tmp_path,
    )
    assert f"Trained to step {steps} of {steps}." in reference.stdout

    model_dir = str(tmp_path / "run")
    cmd = _train_cmd(*flags, "--model_dir", model_dir, "--final_weights", str(tmp_path / "run.npz"))
    process = subprocess.Popen(
        cmd, cwd=tmp_path, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 180
        while _checkpoint_step(model_dir) is None:
            assert process.poll() is None, "training exited before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 180 s"
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    killed_at = _checkpoint_step(model_dir)
    if killed_at >= steps:
        pytest.skip("the run finished before it could be killed")
    assert process.returncode == -signal.SIGKILL
    assert not os.path.exists(tmp_path / "run.npz")

    resumed = _run(cmd, tmp_path)
    assert f"at step {killed_at}." in resumed.stdout, resumed.stdout
    assert f"Trained to step {steps} of {steps}." in resumed.stdout
    assert _checkpoint_step(model_dir) == steps  # optimizer.iterations continued.
    expected, actual = np.load(tmp_path / "ref.npz"), np.load(tmp_path / "run.npz")
    assert expected.files == actual.files
    for key in expected.files:
        np.testing.assert_array_equal(actual[key], expected[key], err_msg=key)


def test_train_library_api_and_rerun(tmp_path):
    model_dir = str(tmp_path / "run")
    model, history = training.train(
        "pixelcnn",
        "digits",
        steps=3,
        batch_size=8,
        model_dir=model_dir,
        hparams=TINY,
        checkpoint_every=2,
        eval_batches=1,
        verbose=0,
    )
    assert int(model.optimizer.iterations.numpy()) == 3
    assert len(history.history["loss"]) == 2  # Two "epochs" of at most 2 steps.
    assert np.isfinite(history.test_metrics["bits_per_dim"])
    assert RunDir(model_dir).read_config()["model"] == "pixelcnn"
    # Again with the same flags: restored at the last step, nothing to train.
    model, history = training.train(
        "pixelcnn",
        "digits",
        steps=3,
        batch_size=8,
        model_dir=model_dir,
        hparams=TINY,
        checkpoint_every=2,
        eval_batches=0,
        verbose=0,
    )
    assert int(model.optimizer.iterations.numpy()) == 3 and history.history == {}
    # A different configuration does not resume this run.
    with pytest.raises(ValueError, match="expected the configuration|Expected the configuration"):
        training.train(
            "pixelcnn",
            "digits",
            steps=3,
            batch_size=8,
            model_dir=model_dir,
            hparams=TINY + ",filters=4",
            verbose=0,
        )
    # The index names checkpoints whose files are gone: the newest whole one is used, and
    # with none left, an error rather than a silent step 0.
    run = RunDir(model_dir)
    latest = run.latest_checkpoint()
    _remove_checkpoint(latest)
    previous = run.latest_checkpoint()
    assert previous.endswith("ckpt-2") and latest.endswith("ckpt-3")
    _remove_checkpoint(previous)
    with pytest.raises(ValueError, match="Expected a whole checkpoint among") as error:
        training.train(
            "pixelcnn", "digits", steps=3, batch_size=8, model_dir=model_dir, hparams=TINY
        )
    assert f"{latest}: {latest}.index is missing" in str(error.value)


def _remove_checkpoint(prefix):
    for name in os.listdir(os.path.dirname(prefix)):
        if name.startswith(os.path.basename(prefix) + "."):
            os.remove(os.path.join(os.path.dirname(prefix), name))


def test_train_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="Unknown model"):
        training.train("no_such_model", steps=1, model_dir=str(tmp_path))
    with pytest.raises(ValueError, match="Expected positive"):
        training.train("pixelcnn", "digits", steps=0, model_dir=str(tmp_path))


def test_make_strategy(monkeypatch):
    assert training.make_strategy("default") is tf.distribute.get_strategy()
    assert isinstance(training.make_strategy("mirrored"), tf.distribute.MirroredStrategy)
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        training.make_strategy("multi_worker")
    with pytest.raises(ValueError, match="expected a TPU"):
        training.make_strategy("tpu")
    with pytest.raises(ValueError, match="expected one of"):
        training.make_strategy("horovod")


def test_is_chief(monkeypatch):
    cluster = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert training.is_chief()
    for index, chief in ((0, True), (1, False)):
        monkeypatch.setenv(
            "TF_CONFIG",
            json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
        )
        assert training.is_chief() is chief
    monkeypatch.setenv(
        "TF_CONFIG",
        json.dumps(
            {
                "cluster": {**cluster, "chief": ["127.0.0.1:3"]},
                "task": {"type": "worker", "index": 0},
            }
        ),
    )
    assert not training.is_chief()
