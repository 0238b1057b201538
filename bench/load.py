"""A bounded request load on a TF Serving endpoint, sent from its own process.

    python -m bench.load < plan.json

The soak bench (bench/soak.py) runs it beside the server, so that the client's work
(serialisation, HTTP, checking the answers) is neither done nor measured by the server's
process. The plan is one JSON object on stdin:

    {"grpc": "127.0.0.1:PORT", "rest": "127.0.0.1:PORT",
     "rows": [{"model": NAME, "signature": KEY, "transport": "gRPC" or "REST",
               "body": a base64 PredictRequest (gRPC) or the JSON request (REST)}, ...],
     "requests": N, "seconds": D, "streams": S}

It sends every row once, in order (the warm-up), and prints `warm`; then `streams` threads send
`requests` requests spread evenly over `seconds`: request i goes to row i mod len(rows) at
start + i D / N (or as soon as a stream is free, when the server falls behind). The last line it
prints is a JSON object: the load's seconds, and per row, the count of each status (`OK`, a gRPC
code name, `HTTP nnn`, or the type of the exception a failed connection raised), the latency of
every request, the versions that answered (gRPC responses name them) and the number of answers
that differ from the first answer to the same model and signature.
"""

import base64
import collections
import http.client
import json
import sys
import threading
import time

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

TIMEOUT_SECONDS = 60.0
WARM = "warm"


class _Row:
    """One kind of request: a model, a signature and a transport, with its request body."""

    def __init__(self, spec, plan):
        self.model = spec["model"]
        self.signature = spec["signature"]
        self.transport = spec["transport"]
        if self.transport == "gRPC":
            self.request = predict_pb2.PredictRequest.FromString(base64.b64decode(spec["body"]))
        else:
            self.host, self.port = plan["rest"].rsplit(":", 1)
            self.body = spec["body"].encode("utf-8")
        self.statuses = collections.Counter()
        self.seconds = []
        self.versions = set()
        self.mismatches = 0

    def send(self, stub):
        """Sends the request once; returns (status, outputs as sorted arrays or None, version)."""
        if self.transport == "gRPC":
            try:
                response = stub.Predict(self.request, timeout=TIMEOUT_SECONDS)
            except grpc.RpcError as e:
                return e.code().name, None, None
            outputs = {key: tf.make_ndarray(value) for key, value in response.outputs.items()}
            return "OK", _sorted_arrays(outputs), response.model_spec.version.value
        connection = http.client.HTTPConnection(self.host, int(self.port), timeout=TIMEOUT_SECONDS)
        try:
            connection.request(
                "POST",
                f"/v1/models/{self.model}:predict",
                self.body,
                {"Content-Type": "application/json"},
            )
            response = connection.getresponse()
            document = response.read()
        except (OSError, http.client.HTTPException) as e:
            return type(e).__name__, None, None
        finally:
            connection.close()
        if response.status != http.HTTPStatus.OK:
            return f"HTTP {response.status}", None, None
        return "OK", _sorted_arrays(json.loads(document)["outputs"]), None

    def report(self):
        """What this row's requests got back, as JSON types."""
        return {
            "statuses": dict(self.statuses),
            "seconds": self.seconds,
            "versions": sorted(self.versions),
            "mismatches": self.mismatches,
        }


def _sorted_arrays(outputs):
    """A signature's outputs as arrays in key order (REST writes a single output bare)."""
    if not isinstance(outputs, dict):
        return [np.asarray(outputs)]
    return [np.asarray(outputs[key]) for key in sorted(outputs)]


def _same(answer, reference):
    return len(answer) == len(reference) and all(
        a.shape == b.shape and np.allclose(a, b, rtol=1e-5, atol=1e-6)
        for a, b in zip(answer, reference)
    )


class Load:
    """The rows of a plan and what their requests got back.

    Args:
      plan: the plan (see the module docstring), decoded.
    """

    def __init__(self, plan):
        self.plan = plan
        self.rows = [_Row(spec, plan) for spec in plan["rows"]]
        self._references = {}  # (model, signature) -> the first answer
        self._lock = threading.Lock()
        self._next = iter(range(plan["requests"]))

    def _record(self, row, status, seconds, answer, version):
        with self._lock:
            row.statuses[status] += 1
            row.seconds.append(seconds)
            if version is not None:
                row.versions.add(version)
            if answer is not None:
                reference = self._references.setdefault((row.model, row.signature), answer)
                row.mismatches += not _same(answer, reference)

    def _send(self, row, stub):
        start = time.perf_counter()
        status, answer, version = row.send(stub)
        self._record(row, status, time.perf_counter() - start, answer, version)
        return status

    def warm_up(self):
        """Sends every row once, in order.

        Raises:
          RuntimeError: a warm-up request failed (the plan or the server is broken).
        """
        with grpc.insecure_channel(self.plan["grpc"]) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            for row in self.rows:
                status = self._send(row, stub)
                if status != "OK":
                    raise RuntimeError(
                        f"Expected the warm-up request of {row.model} {row.signature} over "
                        f"{row.transport} to succeed, got {status}."
                    )
        for row in self.rows:  # The report counts the timed requests only.
            row.statuses.clear()
            row.seconds.clear()

    def _stream(self, start, interval):
        with grpc.insecure_channel(self.plan["grpc"]) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            while True:
                with self._lock:
                    index = next(self._next, None)
                if index is None:
                    return
                time.sleep(max(0.0, start + index * interval - time.perf_counter()))
                self._send(self.rows[index % len(self.rows)], stub)

    def run(self):
        """Sends the timed requests from the plan's streams; returns the load's seconds."""
        interval = self.plan["seconds"] / self.plan["requests"]
        start = time.perf_counter()
        streams = [
            threading.Thread(target=self._stream, args=(start, interval))
            for _ in range(self.plan["streams"])
        ]
        for stream in streams:
            stream.start()
        for stream in streams:
            stream.join()
        return time.perf_counter() - start


def main():
    load = Load(json.loads(sys.stdin.read()))
    load.warm_up()
    print(WARM, flush=True)
    seconds = load.run()
    print(json.dumps({"seconds": seconds, "rows": [row.report() for row in load.rows]}), flush=True)


if __name__ == "__main__":
    main()
