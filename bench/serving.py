"""Serving overhead: gRPC Predict against calling the same signature in-process.

Exports the default `pixelcnn` (its `serving_default` signature: the
log-likelihood of a batch of images), starts `python -m serving` on a free
loopback port, then times, side by side in one run, the same requests through
the real `PredictionServiceStub` and through `tf.saved_model.load(...)
.signatures["serving_default"]` in this process. The ratio of the two is the
server's overhead (serialisation, gRPC, the request checks).

    python -m bench.serving [--requests 200] [--batch_sizes 1,64]
    python -m bench.serving --tiny   # the test-size model, 2 requests per row: a smoke run
"""

import os
import shutil
import tempfile

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


def _percentiles(seconds):
    p50, p99 = np.percentile(seconds * 1e3, [50, 99])
    return p50, p99, len(seconds) / seconds.sum()


def main(argv):
    del argv
    results.tiny_defaults(batch_sizes=["1", "2"], requests=2)
    model = goldens.build("pixelcnn") if FLAGS.tiny else registry.build("pixelcnn")
    model(model.example_features())
    workdir = tempfile.mkdtemp(prefix="tfgen-bench-serving-")
    version_dir = export.export_model(model, os.path.join(workdir, "pixelcnn"))
    in_process = tf.saved_model.load(version_dir).signatures["serving_default"]
    server = ServerProcess(
        "--model_name=pixelcnn", f"--model_base_path={os.path.dirname(version_dir)}"
    )
    rows = []
    try:
        channel = server.channel()
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        for batch_size in map(int, FLAGS.batch_sizes):
            features = model.example_features(batch_size, seed=batch_size)
            request = predict_pb2.PredictRequest()
            request.model_spec.name = "pixelcnn"
            for key, value in features.items():
                request.inputs[key].CopyFrom(tf.make_tensor_proto(value.numpy()))
            remote = tf.make_ndarray(stub.Predict(request, timeout=60).outputs["log_prob"])
            local = in_process(**features)["log_prob"].numpy()
            np.testing.assert_allclose(remote, local, rtol=1e-5)  # Same model, same answer.
            timings = {
                "in-process": results.time_calls(
                    lambda f=features: in_process(**f), FLAGS.requests, 5
                ),
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
        channel.close()
    finally:
        server.terminate()
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
    results.write_block("serving", text)


if __name__ == "__main__":
    app.run(main)
