"""Gated PixelCNN on binarised MNIST (the embedded 5k subset): nats per image.

Trains the class-conditional and the unconditional Gated PixelCNN with the
same steps and hyper-parameters, evaluates both on the 1,000-image test split,
and sets them beside an independent-pixel (per-pixel Bernoulli) baseline
fitted on the same training split and beside the papers' numbers. The table
goes into docs/RESULTS.md.

    python -m bench.pixelcnn_mnist [--steps 1000] [--batch_size 32]
"""


import numpy as np
import tensorflow as tf
from absl import app, flags

from bench import results
from tfgen import data, registry

FLAGS = flags.FLAGS
flags.DEFINE_integer("steps", 1000, "Training steps per model.")
flags.DEFINE_integer("batch_size", 32, "Training batch size.")
flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate.")


def _split(split):
    batches = list(data.load("mnist", split, batch_size=1000, shuffle=False, view="binary"))
    return {key: np.concatenate([b[key].numpy() for b in batches]) for key in batches[0]}


def independent_pixel_nats(train, test):
    """Nats per test image of per-pixel Bernoulli frequencies (Laplace smoothed)."""
    p = (train.reshape(len(train), -1).sum(0) + 1.0) / (len(train) + 2.0)
    x = test.reshape(len(test), -1)
    return float(-np.mean(np.sum(x * np.log(p) + (1 - x) * np.log1p(-p), axis=1)))


def _train_and_score(num_classes, test):
    tf.keras.utils.set_random_seed(0)
    model = registry.build("pixelcnn", {"num_classes": num_classes})
    model.compile(tf.keras.optimizers.Adam(FLAGS.learning_rate), jit_compile=True)
    train = data.load("mnist", "train", batch_size=FLAGS.batch_size, repeat=True, view="binary")
    model.fit(train, steps_per_epoch=FLAGS.steps, epochs=1, verbose=2)
    log_prob = tf.function(model.log_prob)
    nats = [-log_prob({"image": test["image"][i:i + 100], "label": test["label"][i:i + 100]})
            for i in range(0, len(test["image"]), 100)]
    return float(np.mean(np.concatenate(nats)))


def main(argv):
    del argv
    train, test = _split("train"), _split("test")
    baseline = independent_pixel_nats(train["image"], test["image"])
    conditional = _train_and_score(10, test)
    unconditional = _train_and_score(0, test)
    dims = 28 * 28
    config = registry.get("pixelcnn").hparams
    rows = [
        ("independent pixels (Bernoulli per pixel)", f"{baseline:.2f}", f"{baseline / dims / np.log(2):.4f}", "-"),
        ("Gated PixelCNN, unconditional", f"{unconditional:.2f}",
         f"{unconditional / dims / np.log(2):.4f}", "PixelCNN 81.30 (PixelRNN paper, Table 4)"),
        ("Gated PixelCNN, class-conditional", f"{conditional:.2f}",
         f"{conditional / dims / np.log(2):.4f}", "not reported"),
    ]
    text = (f"Binarised MNIST, our 5k subset (4,000 train / 1,000 test images, static "
            f"binarisation at 0.5), {FLAGS.steps} steps of batch {FLAGS.batch_size} "
            f"(~{FLAGS.steps * FLAGS.batch_size // 4000} epochs), default hyper-parameters "
            f"({config['num_layers']} gated layers, {config['filters']} filters); "
            f"{results.machine()}.\n\n")
    text += results.markdown_table(("model", "test nats/image", "test bits/dim",
                                    "paper (60k binarised MNIST)"), rows)
    results.write_block("pixelcnn_mnist", text)


if __name__ == "__main__":
    app.run(main)
