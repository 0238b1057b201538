"""`make demo`: train -> export -> serve the conditional Gated PixelCNN.

Trains a small class-conditional Gated PixelCNN on the embedded binarised
MNIST (5k subset) with Keras `fit`, exports it as a SavedModel version, starts
the TF-Serving-compatible gRPC server on loopback, asks it for samples and
log-likelihoods through the real `tensorflow_serving.apis` stub, writes a PNG
grid of the samples under `docs/`, stops the server and prints what it did.

    python -m training.demo [--steps N] [--workdir DIR]
"""

import os
import re
import signal
import subprocess
import sys
import time

import grpc
import numpy as np
import tensorflow as tf
from absl import app, flags
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

import export
import training
from tfgen import data

FLAGS = flags.FLAGS
flags.DEFINE_integer("steps", 1500, "Training steps.")
flags.DEFINE_integer("batch_size", 32, "Training batch size.")
flags.DEFINE_string("workdir", "runs/demo", "Where the checkpoints and the export go.")
flags.DEFINE_string("samples_png", "docs/pixelcnn_samples.png", "The sample grid written.")
flags.DEFINE_integer("samples_per_class", 6, "Samples per digit class in the grid.")

_PORT_LINE = re.compile(r"Running gRPC ModelServer at [^:\s]+:(\d+)")


def _start_server(model_base_path, model_name):
    """Starts `python -m serving` on a free loopback port; returns (process, port)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "serving", "--port=0", f"--model_name={model_name}",
         f"--model_base_path={os.path.abspath(model_base_path)}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    for line in process.stdout:
        match = _PORT_LINE.search(line)
        if match:
            return process, int(match.group(1))
        if time.monotonic() > deadline:
            break
    process.kill()
    raise RuntimeError("The model server did not report its port.")


def _predict(stub, model_name, signature_name, inputs):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    response = stub.Predict(request, timeout=600)
    return {key: tf.make_ndarray(proto) for key, proto in response.outputs.items()}


def _wait_until_serving(stub, model_name, image_shape):
    deadline = time.monotonic() + 120
    while True:
        try:
            return _predict(stub, model_name, "log_prob", {
                "image": np.zeros((1, *image_shape), np.int32), "label": np.zeros([1], np.int32)})
        except grpc.RpcError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _write_grid(images, rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = len(images) // rows
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 0.8, rows * 0.8))
    for axis, image in zip(axes.T.ravel(), images):
        axis.imshow(image[..., 0], cmap="gray_r", vmin=0, vmax=1)
        axis.set_xticks([])
        axis.set_yticks([])
    for digit, axis in enumerate(axes[0]):
        axis.set_title(str(digit), fontsize=9)
    figure.suptitle("Conditional Gated PixelCNN samples (binarised MNIST, one column per class)",
                    fontsize=9)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)


def main(argv):
    del argv
    model_name = "pixelcnn"
    model_dir = os.path.join(FLAGS.workdir, "train")
    print(f"[1/4] Training a class-conditional Gated PixelCNN on binarised MNIST "
          f"(5k subset, 4,000 train images) for {FLAGS.steps} steps ...")
    model, _ = training.train(model_name, steps=FLAGS.steps, batch_size=FLAGS.batch_size,
                              model_dir=model_dir)
    print("[2/4] Exporting a SavedModel version ...")
    version_dir = export.export_model(model, os.path.join(FLAGS.workdir, "export", model_name))
    print(f"      wrote {version_dir}")
    print("[3/4] Starting the gRPC model server on loopback ...")
    process, port = _start_server(os.path.dirname(version_dir), model_name)
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        image_shape = model.get_config()["image_shape"]
        _wait_until_serving(stub, model_name, image_shape)
        print(f"      serving {model_name} at 127.0.0.1:{port}")
        print("[4/4] Asking the server for log-likelihoods of the test split and for samples ...")
        test = next(iter(data.load("mnist", "test", batch_size=1000, view="binary")))
        scores = _predict(stub, model_name, "log_prob",
                          {"image": test["image"].numpy(), "label": test["label"].numpy()})
        labels = np.tile(np.arange(10, dtype=np.int32), FLAGS.samples_per_class)
        samples = _predict(stub, model_name, "sample", {
            "label": labels, "seed": np.int64(2016), "temperature": np.float32(1.0)})["image"]
        channel.close()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    _write_grid(samples, FLAGS.samples_per_class, FLAGS.samples_png)
    nats = -float(np.mean(scores["log_prob"]))
    bits = float(np.mean(scores["bits_per_dim"]))
    print(f"\nTest split of binarised MNIST (1,000 images, served over gRPC):")
    print(f"  test bits/dim   = {bits:.4f}")
    print(f"  test nats/image = {nats:.2f}")
    print(f"  samples         = {len(samples)} images, grid written to {FLAGS.samples_png}")
    print(f"  server stopped cleanly (exit code {process.returncode})")


def run():
    app.run(main)


if __name__ == "__main__":
    run()
