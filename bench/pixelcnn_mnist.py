"""Gated PixelCNN on binarised MNIST (the embedded 5k subset): nats per image.

Trains the class-conditional and the unconditional Gated PixelCNN with the
same steps and hyper-parameters, evaluates both on the 1,000-image test split,
and sets them beside an independent-pixel (per-pixel Bernoulli) baseline
fitted on the same training split and beside the papers' numbers. The table
goes into docs/RESULTS.md.

    python -m bench.pixelcnn_mnist [--steps 1000] [--batch_size 32]
    python -m bench.pixelcnn_mnist --tiny   # test-size models on 8x8 `digits`: a smoke run
"""

import numpy as np
import tensorflow as tf
from absl import app, flags

from bench import results
from tests import baselines
from tests.conformance import goldens
from tfgen import data, registry

FLAGS = flags.FLAGS
flags.DEFINE_integer("steps", 1000, "Training steps per model.")
flags.DEFINE_integer("batch_size", 32, "Training batch size.")
flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate.")


def _setup():
    """(dataset, options, hyper-parameter overrides): binarised MNIST at the default size.

    In a `--tiny` run: the model's test size on its test data (binarised 8x8 `digits`).
    """
    if FLAGS.tiny:
        golden = goldens.GOLDENS["pixelcnn"]
        return golden.dataset, dict(golden.dataset_options), dict(golden.hparams)
    return "mnist", {"view": "binary"}, {}


def _split(split, dataset, options):
    batches = list(data.load(dataset, split, batch_size=1000, shuffle=False, **options))
    return {key: np.concatenate([b[key].numpy() for b in batches]) for key in batches[0]}


def _train_and_score(num_labels, test, dataset, options, hparams):
    tf.keras.utils.set_random_seed(0)
    model = registry.build("pixelcnn", {**hparams, "num_labels": num_labels}, dataset, options)
    model.compile(tf.keras.optimizers.Adam(FLAGS.learning_rate), jit_compile=True)
    train = data.load(dataset, "train", batch_size=FLAGS.batch_size, repeat=True, **options)
    model.fit(train, steps_per_epoch=FLAGS.steps, epochs=1, verbose=2)
    log_prob = tf.function(model.log_prob)
    nats = [
        -log_prob({"image": test["image"][i : i + 100], "label": test["label"][i : i + 100]})
        for i in range(0, len(test["image"]), 100)
    ]
    return float(np.mean(np.concatenate(nats)))


def main(argv):
    del argv
    results.tiny_defaults(steps=2, batch_size=4)
    dataset, options, hparams = _setup()
    train, test = _split("train", dataset, options), _split("test", dataset, options)
    baseline = baselines.independent_pixel_nats(train["image"], test["image"])
    conditional = _train_and_score(10, test, dataset, options, hparams)
    unconditional = _train_and_score(0, test, dataset, options, hparams)
    dims = int(np.prod(test["image"].shape[1:]))  # 28 * 28
    config = {**registry.get("pixelcnn").hparams, **hparams}
    rows = [
        (
            "independent pixels (Bernoulli per pixel)",
            f"{baseline:.2f}",
            f"{baseline / dims / np.log(2):.4f}",
            "-",
        ),
        (
            "Gated PixelCNN, unconditional",
            f"{unconditional:.2f}",
            f"{unconditional / dims / np.log(2):.4f}",
            "PixelCNN 81.30 (PixelRNN paper, Table 4)",
        ),
        (
            "Gated PixelCNN, class-conditional",
            f"{conditional:.2f}",
            f"{conditional / dims / np.log(2):.4f}",
            "not reported",
        ),
    ]
    if FLAGS.tiny:
        text = (
            f"`--tiny` smoke run on `{dataset}` ({len(train['image'])} train / "
            f"{len(test['image'])} test images), {FLAGS.steps} steps of batch "
            f"{FLAGS.batch_size}, test hyper-parameters ({config['num_layers']} gated "
            f"layers, {config['filters']} filters); measures nothing.\n\n"
        )
    else:
        text = (
            f"Binarised MNIST, our 5k subset (4,000 train / 1,000 test images, static "
            f"binarisation at 0.5), {FLAGS.steps} steps of batch {FLAGS.batch_size} "
            f"(~{FLAGS.steps * FLAGS.batch_size // 4000} epochs), default hyper-parameters "
            f"({config['num_layers']} gated layers, {config['filters']} filters); "
            f"{results.machine()}.\n\n"
        )
    text += results.markdown_table(
        ("model", "test nats/image", "test bits/dim", "paper (60k binarised MNIST)"), rows
    )
    results.write_block("pixelcnn_mnist", text)


if __name__ == "__main__":
    app.run(main)
