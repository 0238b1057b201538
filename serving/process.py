"""`python -m serving` in a subprocess, for tests, benchmarks and the demo.

>>> server = ServerProcess("--model_name=pixelcnn", "--model_base_path=/models/pixelcnn")
>>> channel = server.channel()      # a gRPC channel to 127.0.0.1:<free port>
>>> server.terminate()              # SIGTERM; returns the exit code
0
"""

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

import grpc

GRPC_LINE = re.compile(r"Running gRPC ModelServer at (\S+):(\d+)")
REST_LINE = re.compile(r"Exporting HTTP/REST API at:(\S+):(\d+)")


class ServerProcess:
    """``python -m serving`` in a subprocess, with its output captured.

    Args:
      *flags: command-line flags (``--port=0 --host=127.0.0.1`` are added).
      rest: also serve REST on a free port.
      poll_seconds: `--file_system_poll_wait_seconds`.
    """

    def __init__(self, *flags, rest=False, poll_seconds=0.2):
        args = [
            sys.executable,
            "-m",
            "serving",
            "--port=0",
            "--host=127.0.0.1",
            f"--file_system_poll_wait_seconds={poll_seconds}",
            *flags,
        ]
        if rest:
            args.append("--enable_rest")
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines = []
        self._queue = queue.Queue()
        threading.Thread(target=self._drain, daemon=True).start()
        self.grpc_port = int(self.wait_for_line(GRPC_LINE).group(2))
        self.rest_port = int(self.wait_for_line(REST_LINE).group(2)) if rest else None
        self.address = f"127.0.0.1:{self.grpc_port}"

    def _drain(self):
        for line in self.proc.stdout:
            self.lines.append(line)
            self._queue.put(line)
        self._queue.put(None)

    def wait_for_line(self, pattern, timeout=90.0):
        """Returns the match of the first new output line matching ``pattern``."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(f"server did not print {pattern.pattern!r}:\n{self.output()}")
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError(
                    f"server exited ({self.proc.wait()}) before printing "
                    f"{pattern.pattern!r}:\n{self.output()}"
                )
            match = pattern.search(line)
            if match:
                return match

    def output(self):
        """Everything the server printed so far."""
        return "".join(self.lines)

    def channel(self):
        """A new insecure gRPC channel to the server."""
        return grpc.insecure_channel(self.address)

    def url(self, path):
        """The REST URL of ``path``."""
        return f"http://127.0.0.1:{self.rest_port}{path}"

    def terminate(self, sig=signal.SIGTERM, timeout=30.0):
        """Sends ``sig`` and returns the exit code (kills after ``timeout``)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
