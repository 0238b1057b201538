"""Soak: one server, three models, a bounded mixed load, versions coming and going.

Exports `pixelcnn` (digits), `bytenet_lm` (text) and `mixture_vae` (digits) at their test
hyper-parameters (untrained), serves all three from one `python -m serving
--model_config_file` with REST on, and drives it from a second process (`bench.load`):
`--requests` requests spread evenly over `--duration_seconds` from `--streams` concurrent
streams, round robin over model x signature (`serving_default`, `log_prob`, `sample` with 2
samples and a fixed seed) x transport (gRPC stubs, REST JSON), all asking for the latest
version. The load's first half is steady, requests only; in its second half, the rollout,
every `--version_seconds` a new version of each model is written (a copy of its export, staged
in a hidden directory and renamed, as `export` does) and the versions older than the one the
server reports AVAILABLE are removed. The server's RSS is sampled throughout, so that its growth
with requests (the steady half) and with versions loaded (the rollout) are told apart.

The tables give, per model x signature x transport, the requests, the failures by status,
the answers that differ from the first (every version holds the same weights, so any
difference is wrong) and the p50 / p99 latency; then the totals, whether the server stayed up
and exited 0 on SIGTERM, and its RSS along the way.

    python -m bench.soak [--duration_seconds 120] [--requests 6000] [--streams 16]
    python -m bench.soak --tiny   # a few seconds, 36 requests: a smoke run
"""

import base64
import collections
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import grpc
import numpy as np
import tensorflow as tf
from absl import app, flags
from tensorflow_serving.apis import get_model_status_pb2, predict_pb2

import export
from bench import load, results
from serving.client import Client
from serving.process import ServerProcess
from tests.conformance import goldens
from tests.serving.conftest import install_version

FLAGS = flags.FLAGS
flags.DEFINE_float("duration_seconds", 120.0, "Seconds over which the requests are spread.")
flags.DEFINE_integer("requests", 6000, "Requests sent after the warm-up.")
flags.DEFINE_integer("streams", 16, "Concurrent client streams (threads of the load process).")
flags.DEFINE_float(
    "version_seconds", 5.0, "Seconds between new versions of every model in the rollout half."
)

MODELS = ("pixelcnn", "bytenet_lm", "mixture_vae")
SIGNATURES = ("serving_default", "log_prob", "sample")
TRANSPORTS = ("gRPC", "REST")
# Flat memory: the server's RSS after the steady half within this fraction of its RSS after the
# warm-up.
RSS_TOLERANCE = 0.05
RSS_SAMPLE_SECONDS = 0.5
POLL_SECONDS = 0.1
# What serving.model_manager logs when a version starts serving, or fails to load.
LOADED = ": serving version "
FAILED_LOAD = ": failed to load version "
_AVAILABLE = get_model_status_pb2.ModelVersionStatus.State.AVAILABLE
_MB = 2**20


def _requests(name, model):
    """The plan rows of one model: each signature over each transport, with fixed inputs."""
    rows = []
    functions = model.signatures()
    for signature in SIGNATURES:
        fixed = goldens.signature_inputs(model, functions[signature])
        inputs = {key: value.numpy() for key, value in fixed.items()}
        request = predict_pb2.PredictRequest()
        request.model_spec.name = name
        request.model_spec.signature_name = signature
        for key, value in inputs.items():
            request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
        bodies = {
            "gRPC": base64.b64encode(request.SerializeToString()).decode("ascii"),
            "REST": json.dumps(
                {
                    "signature_name": signature,
                    "inputs": {key: value.tolist() for key, value in inputs.items()},
                }
            ),
        }
        for transport in TRANSPORTS:
            rows.append(
                {
                    "model": name,
                    "signature": signature,
                    "transport": transport,
                    "body": bodies[transport],
                }
            )
    return rows


def _write_config(path, bases):
    """Writes a text-format ModelServerConfig serving `bases` ({name: base path})."""
    entries = "".join(
        f'  config {{ name: "{name}" base_path: "{base}" model_platform: "tensorflow" }}\n'
        for name, base in bases.items()
    )
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(f"model_config_list {{\n{entries}}}\n")


class Versions:
    """Writes new versions of each model (copies of its export) and removes old ones.

    Args:
      templates: {model name: an exported version directory}.
      root: the directory to hold each model's base path, `root/NAME` (created empty).
    """

    def __init__(self, templates, root):
        self.templates = templates
        self.bases = {name: os.path.join(root, name) for name in templates}
        for base in self.bases.values():
            os.makedirs(base)
        self.latest = dict.fromkeys(templates, 0)
        self.written = self.removed = 0

    def write(self, name):
        """Writes version `latest + 1` of model `name`, atomically (staged, then renamed)."""
        self.latest[name] += 1
        install_version(self.bases[name], self.latest[name], self.templates[name])
        self.written += 1

    def remove_older(self, name, served):
        """Removes the versions of model `name` older than version `served`."""
        for entry in os.listdir(self.bases[name]):
            if entry.isdigit() and int(entry) < served:
                shutil.rmtree(os.path.join(self.bases[name], entry))
                self.removed += 1


def _served_version(client, name):
    """The version of model `name` the server reports AVAILABLE (0 if none)."""
    try:
        statuses = client.status(name).model_version_status
    except grpc.RpcError as e:
        if e.code() != grpc.StatusCode.NOT_FOUND:  # NOT_FOUND: no version seen yet.
            raise
        return 0
    return max((s.version for s in statuses if s.state == _AVAILABLE), default=0)


def _churn(versions, client, stop):
    """Writes versions until `stop`: now and every `--version_seconds`, one more of each model.

    After each write, the model's versions older than the one the server serves are removed.
    """
    while True:
        for name in versions.bases:
            versions.write(name)
            versions.remove_older(name, _served_version(client, name))
        if stop.wait(FLAGS.version_seconds):
            return


def _wait_for_latest(versions, client, seconds=60.0):
    """Whether every model serves its newest written version within `seconds`."""
    deadline = time.monotonic() + seconds
    while not all(_served_version(client, n) == v for n, v in versions.latest.items()):
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_SECONDS)
    return True


class RssSampler:
    """Samples a process's RSS in a thread, every `RSS_SAMPLE_SECONDS`, until `stop`."""

    def __init__(self, pid):
        self.pid = pid
        self.samples = [self.now()]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def now(self):
        """The process's RSS in bytes now."""
        return results.proc_status("VmRSS", self.pid)

    def _run(self):
        while not self._stop.wait(RSS_SAMPLE_SECONDS):
            self.samples.append(self.now())

    def stop(self):
        """Stops sampling; returns the RSS now (the last sample)."""
        self._stop.set()
        self._thread.join()
        self.samples.append(self.now())
        return self.samples[-1]


class LoadProcess:
    """`python -m bench.load` in a subprocess, started early: it imports TensorFlow meanwhile.

    Args:
      log_path: the file that takes its stderr.
    """

    def __init__(self, log_path):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
        self._log = open(log_path, "w+", encoding="utf-8")  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.load"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=env,
        )

    def send(self, plan):
        """Sends the plan; the load starts with its warm-up."""
        self.proc.stdin.write(json.dumps(plan))
        self.proc.stdin.close()

    def read_line(self):
        """The next line it prints.

        Raises:
          RuntimeError: it exited instead.
        """
        line = self.proc.stdout.readline()
        if not line:
            self._log.seek(0)
            raise RuntimeError(
                f"Expected bench.load to finish, got exit code {self.proc.wait()}:\n"
                f"{self._log.read()[-6000:]}"
            )
        return line.strip()

    def close(self):
        """Ends it (if still running) and closes its log."""
        self.proc.kill()
        self.proc.wait()
        self._log.close()


def _serve(workdir):
    """Exports the models and serves them; returns (ServerProcess, Versions, plan rows).

    The server starts (imports TensorFlow) while the models are exported, and loads each
    model's version 1 as it appears.
    """
    exports = os.path.join(workdir, "exports")
    versions = Versions(
        {name: os.path.join(exports, name, "1") for name in MODELS}, os.path.join(workdir, "models")
    )
    config = os.path.join(workdir, "models.config")
    _write_config(config, versions.bases)
    rows = []
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        starting = pool.submit(ServerProcess, f"--model_config_file={config}", rest=True)
        try:
            for name in MODELS:
                model = goldens.build(name)
                export.export_model(model, os.path.join(exports, name))
                versions.write(name)
                rows += _requests(name, model)
        finally:
            server = starting.result()
    return server, versions, rows


def _count(server, line):
    """How many times the server has logged `line` (one of its ModelManager's messages)."""
    return server.output().count(line)


def _soak(server, versions, load_process, plan):
    """Runs the load: its steady half, then its rollout half beside the version churn.

    The server's RSS is sampled throughout; its end value is read once every model serves its
    newest version.

    Returns:
      (the load's report, a dict of what the server did).
    """
    client = Client(server.address)
    if not _wait_for_latest(versions, client):
        raise RuntimeError(f"Expected the server to load every model, got:\n{server.output()}")
    rss = {"start": results.proc_status("VmRSS", server.proc.pid)}
    load_process.send(plan)
    line = load_process.read_line()
    if line != load.WARM:
        raise RuntimeError(f"Expected bench.load to print {load.WARM!r}, got {line!r}.")
    sampler = RssSampler(server.proc.pid)
    stop = threading.Event()
    stop.wait(plan["seconds"] / 2)  # The steady half: requests only.
    rss.update(warm=sampler.samples[0], steady=sampler.now())
    steady_loads = _count(server, LOADED)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        churn = pool.submit(_churn, versions, client, stop)  # The rollout half: new versions.
        try:
            report = json.loads(load_process.read_line())
        finally:
            stop.set()
        churn.result()  # Re-raises what stopped it early, if anything did.
    latest_served = _wait_for_latest(versions, client)
    rss["end"] = sampler.stop()
    rss["max"] = max(sampler.samples)
    loads = _count(server, LOADED)
    for name, latest in versions.latest.items():  # The rollout's end: the old versions go.
        versions.remove_older(name, latest)
    client.close()
    alive = server.proc.poll() is None
    return report, {
        "rss": rss,
        "written": versions.written,
        "loads": loads,
        "rollout_loads": loads - steady_loads,
        "failed_loads": _count(server, FAILED_LOAD),
        "removed": versions.removed,
        "latest_served": latest_served,
        "alive": alive,
        "exit_code": server.terminate(),
        "tracebacks": server.output().count("Traceback"),
    }


def _errors(statuses):
    """ "0", or the failures' count and their statuses: "3 (HTTP 500 1, UNAVAILABLE 2)"."""
    failed = {status: count for status, count in statuses.items() if status != "OK"}
    if not failed:
        return "0"
    details = ", ".join(f"{status} {count}" for status, count in sorted(failed.items()))
    return f"{sum(failed.values())} ({details})"


def _row_table(plan, report):
    rows = []
    for spec, row in zip(plan["rows"], report["rows"]):
        p50, p99 = np.percentile(np.asarray(row["seconds"]) * 1e3, [50, 99])
        rows.append(
            (
                spec["model"],
                spec["signature"],
                spec["transport"],
                sum(row["statuses"].values()),
                _errors(row["statuses"]),
                row["mismatches"],
                f"{p50:.1f}",
                f"{p99:.1f}",
            )
        )
    header = ("model", "signature", "transport", "requests", "failed", "wrong answers")
    return results.markdown_table(header + ("p50 ms", "p99 ms"), rows)


def _answered(plan, report):
    """ "NAME N (first-last); ...": the versions of each model that answered gRPC requests."""
    answered = collections.defaultdict(set)
    for spec, row in zip(plan["rows"], report["rows"]):
        answered[spec["model"]].update(row["versions"])
    return "; ".join(f"{name} {len(v)} ({min(v)}-{max(v)})" for name, v in answered.items())


def _summary_table(plan, report, soak):
    statuses = sum(
        (collections.Counter(row["statuses"]) for row in report["rows"]), collections.Counter()
    )
    requests = sum(statuses.values())
    rss = soak["rss"]
    flat = abs(rss["steady"] - rss["warm"]) <= RSS_TOLERANCE * rss["warm"]
    rows = [
        ("requests sent (after the warm-up)", requests),
        ("requests failed", _errors(statuses)),
        ("wrong answers", sum(row["mismatches"] for row in report["rows"])),
        (
            "load",
            f"{plan['streams']} streams, {requests / report['seconds']:.1f} requests/s over "
            f"{report['seconds']:.1f} s (planned: {plan['requests'] / plan['seconds']:.1f} "
            f"over {plan['seconds']:.0f} s)",
        ),
        ("versions written / removed", f"{soak['written']} / {soak['removed']}"),
        (
            "versions the server loaded / failed to load",
            f"{soak['loads']} / {soak['failed_loads']}",
        ),
        ("versions that answered gRPC requests", _answered(plan, report)),
        ("newest version served at the end", "yes" if soak["latest_served"] else "no"),
        ("server alive after the load", "yes" if soak["alive"] else "no"),
        ("server exit code on SIGTERM", soak["exit_code"]),
        ("tracebacks in the server's log", soak["tracebacks"]),
        (
            "server RSS after start-up / warm-up / steady half / end (max), MB",
            " / ".join(f"{rss[k] / _MB:.0f}" for k in ("start", "warm", "steady", "end"))
            + f" ({rss['max'] / _MB:.0f})",
        ),
        (
            "RSS growth per 1,000 requests (steady half), MB",
            f"{(rss['steady'] - rss['warm']) / (requests / 2) * 1000 / _MB:+.2f}",
        ),
        (
            "RSS growth per version loaded (rollout half), MB",
            f"{(rss['end'] - rss['steady']) / max(soak['rollout_loads'], 1) / _MB:+.1f}",
        ),
        (
            f"RSS flat with requests (steady half within {RSS_TOLERANCE:.0%} of warm-up)",
            "yes" if flat else "no",
        ),
    ]
    return results.markdown_table(("soak", "value"), rows)


def main(argv):
    del argv
    results.tiny_defaults(duration_seconds=3.0, requests=36, streams=4, version_seconds=2.0)
    busy = os.getloadavg()[0]  # Other work on the machine, for the table's note.
    workdir = tempfile.mkdtemp(prefix="tfgen-bench-soak-")
    load_process = LoadProcess(os.path.join(workdir, "load.log"))
    server = None
    try:
        server, versions, rows = _serve(workdir)
        plan = {
            "grpc": server.address,
            "rest": f"127.0.0.1:{server.rest_port}",
            "rows": rows,
            "requests": FLAGS.requests,
            "seconds": FLAGS.duration_seconds,
            "streams": FLAGS.streams,
        }
        report, soak = _soak(server, versions, load_process, plan)
    finally:
        if server is not None:
            server.terminate()
        load_process.close()
        shutil.rmtree(workdir, ignore_errors=True)
    text = (
        f"Soak: {len(MODELS)} models ({', '.join(f'`{m}`' for m in MODELS)}; test "
        f"hyper-parameters, untrained) served by one `python -m serving --model_config_file` "
        f"with REST on; a second process sends {FLAGS.requests} requests spread over "
        f"{FLAGS.duration_seconds:.0f} s from {FLAGS.streams} streams, round robin over "
        f"model x signature x transport (`sample`: 2 samples, fixed seed; REST: columnar JSON), "
        f"latest version, after one warm-up request per row. In the second half (the rollout), "
        f"every {FLAGS.version_seconds:.0f} s a new version of each model is written (copied, "
        f"staged, renamed) and the versions older than the served one are removed. Wrong "
        f"answers: answers that differ from the first to "
        f"the same model and signature (every version holds the same weights). Server and client "
        f"on one machine ({results.machine()}), shared with other work (load average {busy:.1f} at "
        f"the start).\n\n"
    )
    text += _row_table(plan, report) + "\n\n" + _summary_table(plan, report, soak)
    results.write_block("soak", text)


if __name__ == "__main__":
    app.run(main)
