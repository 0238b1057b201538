"""`python -m training --model a3c --env CartPole-v1 --threads K`: a short A3C job.

The real CLI in a subprocess, which finds `a3c` in `tfgen.registry` (an
agent): the progress bar of episodes and returns, the TensorBoard summaries
(episode return against frames), the checkpoint, the exported policy
(`model_dir/export/<N>`, loaded with `tf.saved_model.load`), and resuming.
"""

import json
import os
import subprocess
import sys

import pytest
import tensorflow as tf

from training import rl

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(*flags, cwd):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [REPO, env.get("PYTHONPATH")]))
    env.pop("TF_CONFIG", None)
    result = subprocess.run(
        [sys.executable, "-m", "training", "--model", "a3c", *flags],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def _episode_returns(log_dir):
    """`[(frame, return)]` from the run's TensorBoard event files."""
    points = []
    for root, _, files in os.walk(log_dir):
        for name in files:
            for event in tf.compat.v1.train.summary_iterator(os.path.join(root, name)):
                for value in event.summary.value:
                    if value.tag == "episode_return":
                        points.append((event.step, float(tf.make_ndarray(value.tensor))))
    return sorted(points)


@pytest.mark.slow
def test_a3c_cli_trains_writes_summaries_exports_and_resumes(tmp_path):
    model_dir = str(tmp_path / "run")
    out = _run(
        "--env",
        "CartPole-v1",
        "--threads",
        "2",
        "--steps",
        "1000",
        "--hparams",
        "fc_layer_params=(16,),t_max=5",
        "--model_dir",
        model_dir,
        cwd=tmp_path,
    )
    assert "episodes:" in out and "return:" in out, out  # The progress bar.
    assert "Trained to frame" in out and "of 1000" in out, out

    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    assert config["model"] == "a3c" and config["env"] == "CartPole-v1" and config["threads"] == 2
    assert config["hparams"]["fc_layer_params"] == [16]

    points = _episode_returns(os.path.join(model_dir, "logs"))
    assert len(points) >= 10  # CartPole episodes under a near-random policy are short.
    assert all(0 < frame <= 1010 and ret >= 8 for frame, ret in points)

    latest = tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints"))
    frames = int(tf.train.load_checkpoint(latest).get_tensor("frames/.ATTRIBUTES/VARIABLE_VALUE"))
    assert frames >= 1000

    policy = tf.saved_model.load(os.path.join(model_dir, "export", "1"))
    assert "serving_default" in policy.signatures
    assert int(policy.signatures["get_train_step"]()["int64"]) == frames

    # Without --env: the registry entry's environment, so the same config (else refused).
    out = _run(
        "--threads",
        "2",
        "--steps",
        "1500",
        "--hparams",
        "fc_layer_params=(16,),t_max=5",
        "--model_dir",
        model_dir,
        cwd=tmp_path,
    )
    assert f"at frame {frames}" in out, out  # Resumed.
    assert os.path.isdir(os.path.join(model_dir, "export", "2"))


def test_rl_hparams_are_checked():
    assert rl.resolve_hparams("a3c", "t_max=20,noisy=True")["t_max"] == 20
    assert rl.resolve_hparams("a3c", learning_rate=1e-2)["learning_rate"] == 1e-2
    with pytest.raises(ValueError, match="expected keys among"):
        rl.resolve_hparams("a3c", "tmax=20")
    with pytest.raises(TypeError, match="expected t_max of type int"):
        rl.resolve_hparams("a3c", "t_max=0.5")
    with pytest.raises(ValueError, match="Expected a registered agent"):
        rl.resolve_hparams("pixelcnn")
