"""Serving overhead, and server-side batching under concurrent clients.

Exports the default `pixelcnn` (its `serving_default` signature: the
log-likelihood of a batch of images), starts `python -m serving` on a free
loopback port, then times, side by side in one run, the same requests through
the real `PredictionServiceStub` and through `tf.saved_model.load(...)
.signatures["serving_default"]` in this process. The ratio of the two is the
server's overhead (serialisation, gRPC, the request checks).

A second table runs 1, 8 and 32 concurrent clients, each sending one-image
requests in a loop, against that server (batching off) and against a second
one started with `--enable_batching` (batching on): requests/s, p50 and p99
latency, and the requests/s ratio on / off.

    python -m bench.serving [--requests 200] [--batch_sizes 1,64]
        [--clients 1,8,32] [--requests_per_client 40]
    python -m bench.serving --tiny   # the test-size model, 2 requests per row: a smoke run
"""

import concurrent.futures
import os
import shutil
import tempfile
import time

import numpy as np
import tensorflow as tf
from absl import app, flags
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

import export
from bench import results
from serving.process import ServerProcess
from tests.conformance import goldens
from tfgen import registry

FLAGS = flags.FLAGS
flags.DEFINE_list("batch_sizes", ["1", "64"], "Images per request.")
flags.DEFINE_integer("requests", 200, "Timed requests per configuration.")
flags.DEFINE_list("clients", ["1", "8", "32"], "Concurrent clients in the batching table.")
flags.DEFINE_integer(
    "requests_per_client", 40, "Timed one-image requests per client in the batching table."
)

# --enable_batching for one-image requests: up to one batch of all 32 clients, no waiting for
# more (TF Serving's advice for CPUs); the other parameters keep TF Serving's defaults.
BATCHING_PARAMETERS = "max_batch_size { value: 32 }\nbatch_timeout_micros { value: 0 }\n"


def _percentiles(seconds):
    p50, p99 = np.percentile(seconds * 1e3, [50, 99])
    return p50, p99, len(seconds) / seconds.sum()


def _request(features):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "pixelcnn"
    for key, value in features.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value.numpy()))
    return request


def _overhead_rows(stub, model, in_process):
    """Rows of the overhead table: each batch size, in-process then through gRPC."""
    rows = []
    for batch_size in map(int, FLAGS.batch_sizes):
        features = model.example_features(batch_size, seed=batch_size)
        request = _request(features)
        remote = tf.make_ndarray(stub.Predict(request, timeout=60).outputs["log_prob"])
        local = in_process(**features)["log_prob"].numpy()
        np.testing.assert_allclose(remote, local, rtol=1e-5)  # Same model, same answer.
        timings = {
            "in-process": results.time_calls(lambda f=features: in_process(**f), FLAGS.requests, 5),
            "gRPC": results.time_calls(
                lambda r=request: stub.Predict(r, timeout=60), FLAGS.requests, 5
            ),
        }
        local_p50 = np.median(timings["in-process"])
        for path, seconds in timings.items():
            p50, p99, rate = _percentiles(seconds)
            rows.append(
                (
                    batch_size,
                    path,
                    f"{p50:.2f}",
                    f"{p99:.2f}",
                    f"{rate:.1f}",
                    f"{np.median(seconds) / local_p50:.2f}x",
                )
            )
    return rows


def _concurrent_load(stub, request, clients, per_client):
    """`clients` threads each send `per_client` requests; returns (seconds per request, wall s)."""
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        seconds = pool.map(
            lambda _: results.time_calls(lambda: stub.Predict(request, timeout=60), per_client, 0),
            range(clients),
        )
        seconds = np.concatenate(list(seconds))
    return seconds, time.perf_counter() - start


def _batching_rows(stubs, features, in_process):
    """Rows of the batching table: each client count, batching off then on, side by side."""
    request = _request(features)
    local = in_process(**features)["log_prob"].numpy()
    for stub in stubs.values():  # Batched or not, the same answer; and a warm-up.
        for _ in range(5):
            remote = tf.make_ndarray(stub.Predict(request, timeout=60).outputs["log_prob"])
            np.testing.assert_allclose(remote, local, rtol=1e-5)
    rows = []
    for clients in map(int, FLAGS.clients):
        rates = {}
        for label, stub in stubs.items():
            seconds, wall = _concurrent_load(stub, request, clients, FLAGS.requests_per_client)
            p50, p99, _ = _percentiles(seconds)
            rates[label] = len(seconds) / wall
            ratio = rates[label] / rates["off"]
            rows.append(
                (clients, label, f"{rates[label]:.1f}", f"{p50:.2f}", f"{p99:.2f}", f"{ratio:.2f}x")
            )
    return rows


def main(argv):
    del argv
    results.tiny_defaults(batch_sizes=["1", "2"], requests=2, requests_per_client=2)
    load_average = os.getloadavg()[0]
    model = goldens.build("pixelcnn") if FLAGS.tiny else registry.build("pixelcnn")
    model(model.example_features())
    workdir = tempfile.mkdtemp(prefix="tfgen-bench-serving-")
    version_dir = export.export_model(model, os.path.join(workdir, "pixelcnn"))
    in_process = tf.saved_model.load(version_dir).signatures["serving_default"]
    parameters = os.path.join(workdir, "batching_parameters.txt")
    with open(parameters, "w", encoding="utf-8") as f:
        f.write(BATCHING_PARAMETERS)
    server_flags = (
        "--model_name=pixelcnn",
        f"--model_base_path={os.path.dirname(version_dir)}",
        f"--grpc_max_threads={max(map(int, FLAGS.clients))}",
    )
    server = ServerProcess(*server_flags)
    batching_server = None
    try:
        batching_server = ServerProcess(
            *server_flags, "--enable_batching", f"--batching_parameters_file={parameters}"
        )
        channel = server.channel()
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        rows = _overhead_rows(stub, model, in_process)
        batching_channel = batching_server.channel()
        stubs = {
            "off": stub,
            "on": prediction_service_pb2_grpc.PredictionServiceStub(batching_channel),
        }
        batching_rows = _batching_rows(stubs, model.example_features(1, seed=1), in_process)
        batching_channel.close()
        channel.close()
    finally:
        server.terminate()
        if batching_server is not None:
            batching_server.terminate()
        shutil.rmtree(workdir, ignore_errors=True)
    config = model.get_config()
    text = (
        f"Serving `pixelcnn` `serving_default` (log-likelihood of a batch of "
        f"{config['image_shape'][0]}x{config['image_shape'][1]} images, "
        f"{'test' if FLAGS.tiny else 'default'} hyper-parameters); one client, requests "
        f"in sequence, {FLAGS.requests} per row after "
        f"5 warm-up calls; server and client on the same machine ({results.machine()}).\n\n"
    )
    text += results.markdown_table(
        ("batch", "path", "p50 ms", "p99 ms", "requests/s", "p50 / in-process p50"), rows
    )
    text += (
        "\n\nServer-side batching: concurrent clients (threads of this process, one shared "
        f"channel per server), each sending {FLAGS.requests_per_client} one-image requests in "
        "a loop after 5 warm-up calls, to a server without batching (off) and to one with "
        "`--enable_batching` (on: `max_batch_size` 32, `batch_timeout_micros` 0, TF Serving's "
        "defaults otherwise: `num_batch_threads` = cores, `max_enqueued_batches` 10); both "
        f"servers run with `--grpc_max_threads={max(map(int, FLAGS.clients))}`, and both answer "
        "what the in-process signature answers. Rows alternate off / on in one run; the 1-minute "
        f"load average was {load_average:.1f} at the start (the machine was shared with other "
        "jobs), so absolute numbers are noisy and the on / off ratios are the measurement.\n\n"
    )
    text += results.markdown_table(
        ("clients", "batching", "requests/s", "p50 ms", "p99 ms", "requests/s / off"),
        batching_rows,
    )
    results.write_block("serving", text)


if __name__ == "__main__":
    app.run(main)
