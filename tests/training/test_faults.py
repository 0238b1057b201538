"""Faults in training: damaged checkpoints, changed flags on resume, a diverging loss.

A tiny `pixelcnn` run of 4 steps (checkpoints at steps 2 and 4) is trained
once per module; each test resumes a copy of it.
"""

import json
import logging
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

import training
from tests import damage
from tests.conformance import goldens
from tfgen import run_dir
from tfgen.run_dir import RunDir

TINY = goldens.hparams_flag("pixelcnn")
FLAGS = {"hparams": TINY, "batch_size": 8, "checkpoint_every": 2, "eval_batches": 0}


def _train(model_dir, steps, **changes):
    return training.train(
        "pixelcnn", "digits", steps=steps, model_dir=model_dir, **{**FLAGS, **changes}
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("faults") / "run")
    _train(path, 4, verbose=0)
    return path


@pytest.fixture
def run(trained, tmp_path):
    """A copy of the trained run, to damage or resume."""
    path = str(tmp_path / "run")
    shutil.copytree(trained, path)
    return path


@pytest.mark.parametrize("how", damage.KINDS)
def test_damaged_latest_checkpoint_resumes_from_the_previous_one(run, how, caplog, capsys):
    checkpoints = os.path.join(run, "checkpoints")
    latest, previous = (os.path.join(checkpoints, f"ckpt-{step}") for step in (4, 2))
    data = damage.damage_checkpoint(latest, how)
    assert data in run_dir.checkpoint_error(latest)
    with caplog.at_level(logging.WARNING):
        model, _ = _train(run, 6)
    assert f"Restored {previous} at step 2." in capsys.readouterr().out
    assert any(latest in r.getMessage() and data in r.getMessage() for r in caplog.records)
    assert int(model.optimizer.iterations.numpy()) == 6
    # Step 4 was trained again and checkpointed whole over the damaged files.
    assert RunDir(run).latest_checkpoint() == os.path.join(checkpoints, "ckpt-6")
    assert run_dir.checkpoint_error(latest) is None


def test_no_whole_checkpoint_is_an_error_naming_each(run):
    checkpoints = os.path.join(run, "checkpoints")
    prefixes = [os.path.join(checkpoints, f"ckpt-{step}") for step in (2, 4)]
    data = [damage.damage_checkpoint(prefix, "truncate") for prefix in prefixes]
    with pytest.raises(ValueError, match="Expected a whole checkpoint among") as error:
        _train(run, 6, verbose=0)
    for path in data:
        assert f"{path} is unreadable" in str(error.value)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"batch_size": 16}, "batch_size: expected 8, got 16"),
        ({"seed": 1}, "seed: expected 0, got 1"),
        ({"hparams": TINY + ",filters=4"}, "hparams: expected"),
    ],
)
def test_resume_with_another_batch_size_or_seed_is_refused(run, changes, message):
    with pytest.raises(ValueError, match=message) as error:
        _train(run, 6, verbose=0, **changes)
    assert run in str(error.value) and "another --model_dir" in str(error.value)
    assert RunDir(run).latest_checkpoint().endswith("ckpt-4")


def test_run_of_an_older_version_without_batch_size_in_its_config_resumes(run, capsys):
    directory = RunDir(run)
    config = directory.read_config()
    older = {key: value for key, value in config.items() if key not in ("batch_size", "seed")}
    with open(directory.config_path, "w", encoding="utf-8") as f:
        json.dump(older, f)
    model, _ = _train(run, 6)
    assert "at step 4." in capsys.readouterr().out
    assert int(model.optimizer.iterations.numpy()) == 6
    assert directory.read_config() == config


def test_checkpoint_holds_the_run_config(run):
    config = RunDir(run).read_config()
    assert config["batch_size"] == 8 and config["seed"] == 0
    assert run_dir.checkpoint_config(RunDir(run).latest_checkpoint()) == config


@pytest.mark.parametrize(
    "every, message",
    [
        (2, "at step 6, got loss nan:"),  # Step 5's update made the weights NaN, step 6 shows it.
        (1, "at step 5, got loss [0-9.]+ and non-finite weights"),  # Caught before saving 5.
    ],
)
def test_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(run, every, message):
    """A NaN learning rate makes the weights NaN after step 5: nothing NaN is checkpointed."""
    with pytest.raises(ValueError, match="Expected a finite loss and weights " + message) as error:
        _train(run, 8, learning_rate=float("nan"), checkpoint_every=every, verbose=0)
    latest = RunDir(run).latest_checkpoint()
    assert latest == os.path.join(run, "checkpoints", "ckpt-4")
    assert f"the last good checkpoint, {latest}, is kept" in str(error.value)
    reader = tf.train.load_checkpoint(latest)
    for key in reader.get_variable_to_shape_map():
        if key.startswith("model/"):
            assert np.isfinite(reader.get_tensor(key)).all(), key
