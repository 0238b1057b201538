"""A `python -m training` run killed with SIGKILL at a random step resumes to the exact end.

For three model families (autoregressive `pixelcnn`, the sequence task `act`,
the latent-variable `mixture_vae`) and the A3C agent: the CLI runs in a
subprocess that pauses after a step drawn from a seeded generator (after at
least one checkpoint), is killed there with SIGKILL, and the run is resumed
in this process with the same arguments. It must restore the checkpoint the
killed run wrote last, end with exactly the requested number of optimiser
steps, and list only whole checkpoints, the newest at the last step.
"""

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
from tfgen import run_dir
from tfgen.run_dir import RunDir
from training import rl

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STEPS, EVERY, BATCH_SIZE = 12, 3, 8
A3C_HPARAMS, T_MAX, FRAMES, FRAMES_EVERY = "fc_layer_params=(8,),t_max=5", 5, 60, 10

# The CLI, pausing (so that the test kills it there) once `argv[2]` is reached: after the
# step (models) or update (agents) that reaches it, and after any checkpoint of that step.
CHILD = """
import sys, time
from training import __main__ as cli, loop, rl

marker, pause_at = sys.argv[1], int(sys.argv[2])
sys.argv = ["training"] + sys.argv[3:]

def pausing(callback, count):
    def wrapper(self, *args):
        callback(self, *args)
        if count(self, *args) >= pause_at:
            open(marker, "w").close()
            time.sleep(600)
    return wrapper

loop._Checkpointer.on_train_batch_end = pausing(
    loop._Checkpointer.on_train_batch_end,
    lambda self, *args: int(self.model.optimizer.iterations.numpy()),
)
rl._Checkpointer.__call__ = pausing(rl._Checkpointer.__call__, lambda self, frame: frame)
cli.run()
"""


def _env():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [REPO, env.get("PYTHONPATH")]))
    env.pop("TF_CONFIG", None)
    return env


def _kill_when_paused(flags, pause_at, tmp_path):
    """Runs the CLI with `flags` until it pauses at `pause_at`, then kills it with SIGKILL."""
    marker = str(tmp_path / "paused")
    process = subprocess.Popen(
        [sys.executable, "-c", CHILD, marker, str(pause_at), *flags],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 240  # Against a hang, not a measurement.
        while not os.path.exists(marker):
            assert process.poll() is None, process.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the run did not reach its pause"
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=60)
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL


def _checkpoint_steps(model_dir):
    """The steps of the checkpoints the run's index lists, each checked whole."""
    state = tf.train.get_checkpoint_state(os.path.join(model_dir, "checkpoints"))
    prefixes = list(state.all_model_checkpoint_paths)
    assert all(run_dir.checkpoint_error(prefix) is None for prefix in prefixes)
    return [int(prefix.rsplit("-", 1)[1]) for prefix in prefixes]


def _model_flags(name):
    golden = goldens.GOLDENS[name]
    options = ",".join(f"{key}={value!r}" for key, value in golden.dataset_options.items())
    return {
        "dataset": golden.dataset,
        "hparams": goldens.hparams_flag(name),
        "dataset_options": options,
        "batch_size": BATCH_SIZE,
        "checkpoint_every": EVERY,
        "eval_batches": 0,
    }


def _cli_flags(name, model_dir, steps, **flags):
    return [f"--model={name}", f"--model_dir={model_dir}", f"--steps={steps}"] + [
        f"--{key}={value}" for key, value in flags.items()
    ]


@pytest.mark.parametrize("name", ["pixelcnn", "act", "mixture_vae", "a3c"])
def test_sigkill_at_a_random_step_resumes_to_the_exact_end(name, tmp_path, capsys):
    rng = np.random.default_rng(sum(map(ord, name)))
    model_dir = str(tmp_path / "run")
    if name == "a3c":  # Agents count frames; one learner makes an update every T_MAX frames.
        flags = {"hparams": A3C_HPARAMS, "threads": 1, "checkpoint_every": FRAMES_EVERY}
        steps, every, unit = FRAMES, FRAMES_EVERY, T_MAX
    else:
        flags, steps, every, unit = _model_flags(name), STEPS, EVERY, 1
    pause_at = unit * int(rng.integers(every // unit + 1, steps // unit))
    _kill_when_paused(_cli_flags(name, model_dir, steps, **flags), pause_at, tmp_path)
    killed_at = _checkpoint_steps(model_dir)[-1]
    assert killed_at == pause_at - pause_at % every > 0

    if name == "a3c":
        agent, _ = rl.train_agent(
            name,
            threads=1,
            frames=steps,
            model_dir=model_dir,
            hparams=A3C_HPARAMS,
            checkpoint_every=FRAMES_EVERY,
        )
        assert agent.frames == steps
        assert int(agent.optimizer.iterations.numpy()) == steps // T_MAX
        restored = f"at frame {killed_at}."
    else:
        model, _ = training.train(name, model_dir=model_dir, steps=steps, **flags)
        assert int(model.optimizer.iterations.numpy()) == steps
        restored = f"at step {killed_at}."
    killed = os.path.join(model_dir, "checkpoints", f"ckpt-{killed_at}")
    assert f"Restored {killed} {restored}" in capsys.readouterr().out
    expected = sorted(set(range(every, steps + 1, every)) | {steps})[-3:]
    assert _checkpoint_steps(model_dir) == expected
    reader = tf.train.load_checkpoint(RunDir(model_dir).latest_checkpoint())
    counter = "frames" if name == "a3c" else "step"
    assert reader.get_tensor(f"{counter}/.ATTRIBUTES/VARIABLE_VALUE") == steps
