"""Multi-process training on loopback, clusters from TF's own TF_CONFIG.

`--strategy multi_worker`: two workers run `python -m training`;
MultiWorkerMirroredStrategy keeps their variables in sync, so both must end
with identical weights, and only the chief (worker 0) writes checkpoints and
logs into `--model_dir`.

`--strategy parameter_server`: a chief, a worker and a parameter server; the
worker and ps tasks serve until killed, the chief trains and checkpoints.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import tensorflow as tf

from tests.conformance import goldens

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = goldens.hparams_flag("pixelcnn")


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _env(cluster, task_type, index):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [REPO, env.get("PYTHONPATH")]))
    env["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})
    return env


def _train_cmd(*flags):
    return [
        sys.executable,
        "-m",
        "training",
        "--model",
        "pixelcnn",
        "--dataset",
        "digits",
        "--hparams",
        TINY,
        "--batch_size",
        "16",
        *flags,
    ]


def test_two_workers_on_loopback_end_with_equal_weights(tmp_path):
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    model_dir = str(tmp_path / "run")
    processes = []
    for index in range(2):
        env = _env({"worker": workers}, "worker", index)
        cmd = _train_cmd(
            "--strategy",
            "multi_worker",
            "--steps",
            "6",
            "--checkpoint_every",
            "3",
            "--eval_batches",
            "2",
            "--model_dir",
            model_dir,
            "--final_weights",
            str(tmp_path / f"w{index}.npz"),
        )
        log = open(tmp_path / f"worker{index}.log", "w")
        processes.append(
            (
                subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT),
                log,
            )
        )
    try:
        codes = [process.wait(timeout=240) for process, _ in processes]
    finally:
        for process, log in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()
    logs = [(tmp_path / f"worker{i}.log").read_text()[-3000:] for i in range(2)]
    assert codes == [0, 0], logs
    for log in logs:
        assert "test bits_per_dim=" in log, log

    first, second = np.load(tmp_path / "w0.npz"), np.load(tmp_path / "w1.npz")
    assert first.files == second.files and first.files
    for key in first.files:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)

    # Only the chief wrote into model_dir: its checkpoint is at the final step.
    latest = tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints"))
    assert latest.endswith("ckpt-6")
    assert os.path.exists(os.path.join(model_dir, "config.json"))
    assert not any(
        name.startswith("workertemp") for name in os.listdir(os.path.join(model_dir, "logs"))
    )


def test_parameter_server_on_loopback(tmp_path):
    chief, worker, ps = (f"127.0.0.1:{port}" for port in _free_ports(3))
    cluster = {"chief": [chief], "worker": [worker], "ps": [ps]}
    model_dir = str(tmp_path / "run")
    cmd = _train_cmd(
        "--strategy",
        "parameter_server",
        "--steps",
        "7",
        "--checkpoint_every",
        "3",
        "--eval_batches",
        "2",
        "--model_dir",
        model_dir,
    )
    servers = []
    try:
        for task_type in ("worker", "ps"):
            servers.append(
                subprocess.Popen(
                    cmd,
                    cwd=tmp_path,
                    env=_env(cluster, task_type, 0),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        result = subprocess.run(
            cmd,
            cwd=tmp_path,
            env=_env(cluster, "chief", 0),
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert all(server.poll() is None for server in servers)  # They serve until killed.
    finally:
        for server in servers:
            server.kill()
            server.wait()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Trained to step 7 of 7." in result.stdout
    assert "test bits_per_dim=" in result.stdout
    names = os.listdir(os.path.join(model_dir, "checkpoints"))
    assert {"ckpt-3.index", "ckpt-6.index", "ckpt-7.index"} <= set(names)
