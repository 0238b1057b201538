"""`make demo`: train -> export -> serve the conditional Gated PixelCNN.

Trains a small class-conditional Gated PixelCNN on the embedded binarised
MNIST (5k subset) with Keras `fit`, exports it as a SavedModel version, starts
the TF-Serving-compatible gRPC server on loopback, asks it for samples and
log-likelihoods through the real `tensorflow_serving.apis` stub, writes a PNG
grid of the samples under `docs/`, stops the server and prints what it did.

    python -m training.demo [--steps N] [--workdir DIR]
"""

import os

import numpy as np
from absl import app, flags, logging

import export
import training
from serving.client import Client
from serving.process import ServerProcess
from tfgen import data

FLAGS = flags.FLAGS
flags.DEFINE_integer("steps", 800, "Training steps.")
flags.DEFINE_string(
    "hparams",
    "num_layers=6,filters=16,output_filters=32",
    "Overrides of the registry's pixelcnn hyper-parameters (a small model, so the "
    "demo trains in a few minutes on 2 CPU cores).",
)
flags.DEFINE_integer("batch_size", 32, "Training batch size.")
flags.DEFINE_string("workdir", "runs/demo", "Where the checkpoints and the export go.")
flags.DEFINE_string("samples_png", "docs/pixelcnn_samples.png", "The sample grid written.")
flags.DEFINE_integer("samples_per_class", 6, "Samples per digit class in the grid.")


def _write_grid(images, rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = len(images) // rows
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 0.8, rows * 0.8))
    for axis, image in zip(axes.ravel(), images):  # Row r, column c: label c.
        axis.imshow(image[..., 0], cmap="gray_r", vmin=0, vmax=1)
        axis.set_xticks([])
        axis.set_yticks([])
    for digit, axis in enumerate(axes[0]):
        axis.set_title(str(digit), fontsize=9)
    figure.suptitle(
        "Conditional Gated PixelCNN samples (binarised MNIST, one column per class)", fontsize=9
    )
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    model_name = "pixelcnn"
    model_dir = os.path.join(FLAGS.workdir, "train")
    print(
        f"[1/4] Training a class-conditional Gated PixelCNN on binarised MNIST "
        f"(5k subset, 4,000 train images) for {FLAGS.steps} steps ..."
    )
    model, _ = training.train(
        model_name,
        steps=FLAGS.steps,
        batch_size=FLAGS.batch_size,
        model_dir=model_dir,
        hparams=FLAGS.hparams,
        jit_compile=True,
        eval_batches=0,
    )
    print("[2/4] Exporting a SavedModel version ...")
    version_dir = export.export_model(model, os.path.join(FLAGS.workdir, "export", model_name))
    print(f"      wrote {version_dir}")
    print("[3/4] Starting the gRPC model server on loopback ...")
    server = ServerProcess(
        f"--model_name={model_name}",
        f"--model_base_path={os.path.abspath(os.path.dirname(version_dir))}",
    )
    client = Client(server.address, timeout=600)
    try:
        print(f"      serving {model_name} at {server.address}")
        print("[4/4] Asking the server for log-likelihoods of the test split and for samples ...")
        test = next(iter(data.load("mnist", "test", batch_size=1000, view="binary")))
        _, scores = client.predict(
            model_name, {"image": test["image"].numpy(), "label": test["label"].numpy()}, "log_prob"
        )
        labels = np.tile(np.arange(10, dtype=np.int32), FLAGS.samples_per_class)
        _, samples = client.predict(
            model_name, {"label": labels, "seed": 2016, "temperature": 1.0}, "sample"
        )
        samples = samples["image"]
    finally:
        client.close()
        exit_code = server.terminate()
    _write_grid(samples, FLAGS.samples_per_class, FLAGS.samples_png)
    nats = -float(np.mean(scores["log_prob"]))
    bits = float(np.mean(scores["bits_per_dim"]))
    print("\nTest split of binarised MNIST (1,000 images, served over gRPC):")
    print(f"  test bits/dim   = {bits:.4f}")
    print(f"  test nats/image = {nats:.2f}")
    print(f"  samples         = {len(samples)} images, grid written to {FLAGS.samples_png}")
    print(f"  server stopped cleanly (exit code {exit_code})")


def run():
    app.run(main)


if __name__ == "__main__":
    run()
