"""Bayesian Flow Networks: nats/image on binarised MNIST, bits/char on `text`, samples vs steps.

1. Trains `bfn_discrete` on binarised `mnist` (the embedded 5k subset, 4,000
   train / 1,000 test images) with Keras `fit` for at most `--mnist_steps`
   steps or `--mnist_seconds` seconds, whichever comes first, and scores the
   1,000 test images with the continuous-time bound L^inf + L^r and the n-step
   bounds L^n + L^r (n = 10, 25, 100), beside the Gated PixelCNN's numbers on
   the same split (docs/RESULTS.md, block `pixelcnn_mnist`) and the paper's.
2. Trains `bfn_discrete_text` on `text` the same way (`--text_steps`,
   `--text_seconds`) and reports test bits/char (L^inf + L^r).
3. Draws `bfn_discrete` samples with 10, 25 and 100 steps into a PNG grid
   (rows = steps, the same seed on every row): docs/bfn_samples.png.
4. Writes the table into docs/RESULTS.md (block `bfn_results`) unless `--nowrite`.

    python -m bench.bfn_results [--mnist_steps 2000] [--mnist_seconds 340]
                                [--text_steps 2000] [--text_seconds 160] [--nowrite]

The time caps keep the run inside a fixed wall-clock budget on a small CPU
machine; the table states how many steps were actually taken.

    python -m bench.bfn_results --tiny   # test-size models, 8x8 `digits`, 2 steps: a smoke run
"""

import os
import time

import numpy as np
import tensorflow as tf
from absl import app, flags

from bench import results
from tests.conformance import goldens
from tfgen import data, registry

FLAGS = flags.FLAGS
flags.DEFINE_integer("mnist_steps", 2000, "Maximum training steps for bfn_discrete on mnist.")
flags.DEFINE_float("mnist_seconds", 340.0, "Training time cap (s) for bfn_discrete.")
flags.DEFINE_integer("text_steps", 2000, "Maximum training steps for bfn_discrete_text.")
flags.DEFINE_float("text_seconds", 160.0, "Training time cap (s) for bfn_discrete_text.")
flags.DEFINE_integer("batch_size", 32, "Training batch size.")
flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate.")
flags.DEFINE_integer("seq_len", 64, "Sequence length of `text` examples.")
flags.DEFINE_list("eval_steps", ["10", "25", "100"], "n of the n-step bounds and sample rows.")
flags.DEFINE_integer("num_samples", 10, "Samples per row of the PNG grid.")
flags.DEFINE_string(
    "plot",
    os.path.join(os.path.dirname(results.RESULTS), "bfn_samples.png"),
    "Where to write the sample grid.",
)

MNIST_DIMS = 28 * 28
PIXELCNN_UNCONDITIONAL = 65.56  # docs/RESULTS.md, block pixelcnn_mnist, same 1,000 test images
PIXELCNN_CONDITIONAL = 61.13
PAPER_MNIST = 77.87  # BFN paper, binarised MNIST (60k train / 10k test), L^inf-trained
PAPER_TEXT8 = 1.41  # BFN paper, text8 (90M characters, 256-character context)


def _split(name, split, **options):
    batches = list(data.load(name, split, batch_size=1000, shuffle=False, **options))
    return {key: np.concatenate([b[key].numpy() for b in batches]) for key in batches[0]}


def _setup(name, dataset, options, overrides):
    """(dataset, options, hyper-parameter overrides) of model `name` for this run.

    The given ones, or in a `--tiny` run the model's test size on its test dataset
    (`tests.conformance.goldens`; binarised 8x8 `digits` for `bfn_discrete`), the
    `--seq_len` still applying to `text`.
    """
    if not FLAGS.tiny:
        return dataset, options, overrides
    golden = goldens.GOLDENS[name]
    options = (
        {**golden.dataset_options, **options}
        if golden.dataset == dataset
        else dict(golden.dataset_options)
    )
    return golden.dataset, options, {**golden.hparams, **overrides}


def _train(name, overrides, dataset, options, max_steps, seconds):
    tf.keras.utils.set_random_seed(0)
    model = registry.build(name, overrides, dataset, options)
    model.compile(tf.keras.optimizers.Adam(FLAGS.learning_rate), jit_compile=True)
    train = data.load(dataset, "train", batch_size=FLAGS.batch_size, repeat=True, **options)
    limit = results.TimeLimit(seconds)
    model.fit(train, steps_per_epoch=max_steps, epochs=1, verbose=2, callbacks=[limit])
    return model, limit


def _score(model, features, steps, batch=250):
    """Mean bound (nats per example) over `features`, one Monte Carlo sample each."""
    log_prob = tf.function(lambda f, s: model.log_prob(f, steps=steps, seed=s))
    count = len(next(iter(features.values())))
    nats = [
        -log_prob({k: v[i : i + batch] for k, v in features.items()}, tf.constant(i, tf.int64))
        for i in range(0, count, batch)
    ]
    return float(np.mean(np.concatenate(nats)))


def _write_grid(model, steps_list, path):
    plt = results.pyplot()

    rows = [model.sample(FLAGS.num_samples, steps=n, seed=1).numpy()[..., 0] for n in steps_list]
    fig, axes = plt.subplots(len(rows), 1, figsize=(FLAGS.num_samples * 0.8, len(rows) * 0.95))
    for ax, n, images in zip(np.atleast_1d(axes), steps_list, rows):
        ax.imshow(
            np.concatenate(list(images), axis=1),
            cmap="gray_r",
            vmin=0,
            vmax=1,
            interpolation="nearest",
        )
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(f"n = {n}", rotation=0, ha="right", va="center")
    fig.suptitle(
        "bfn_discrete samples on binarised MNIST (rows: sampling steps, same seed)", fontsize=9
    )
    fig.tight_layout()
    results.save_figure(fig, path)


def main(argv):
    del argv
    results.tiny_defaults(
        mnist_steps=2, text_steps=2, batch_size=4, seq_len=16, eval_steps=["2", "4"], num_samples=2
    )
    wall = time.perf_counter()
    eval_steps = [int(n) for n in FLAGS.eval_steps]

    # 1. bfn_discrete on binarised MNIST.
    image_data, image_options, image_hparams = _setup(
        "bfn_discrete", "mnist", {"view": "binary"}, {}
    )
    mnist_test = _split(image_data, "test", **image_options)
    dims = int(np.prod(mnist_test["image"].shape[1:]))  # 28 * 28
    image_model, image_fit = _train(
        "bfn_discrete",
        image_hparams,
        image_data,
        image_options,
        FLAGS.mnist_steps,
        FLAGS.mnist_seconds,
    )
    test_images = {"image": mnist_test["image"]}
    bounds = {0: _score(image_model, test_images, 0)}
    for n in eval_steps:
        bounds[n] = _score(image_model, test_images, n)

    # 3. Sample grid.
    plot = results.output_path(FLAGS.plot)
    _write_grid(image_model, eval_steps, plot)

    # 2. bfn_discrete_text on text.
    text_data, text_options, text_hparams = _setup(
        "bfn_discrete_text", "text", {"seq_len": FLAGS.seq_len}, {"seq_len": FLAGS.seq_len}
    )
    text_test = _split(text_data, "test", **text_options)
    text_model, text_fit = _train(
        "bfn_discrete_text",
        text_hparams,
        text_data,
        text_options,
        FLAGS.text_steps,
        FLAGS.text_seconds,
    )
    text_nats = _score(text_model, {"tokens": text_test["tokens"]}, 0)
    bits_per_char = text_nats / FLAGS.seq_len / np.log(2)

    config = {**registry.get("bfn_discrete").hparams, **image_hparams}
    text_config = {**registry.get("bfn_discrete_text").hparams, **text_hparams}

    def per_dim(nats, dims=dims):
        return f"{nats / dims / np.log(2):.4f}"

    rows = [
        (
            "`bfn_discrete`, L^inf + L^r (continuous time)",
            f"{bounds[0]:.2f}",
            per_dim(bounds[0]),
            f"BFN {PAPER_MNIST} (60k binarised MNIST, L^inf)",
        )
    ]
    rows += [
        (f"`bfn_discrete`, L^n + L^r, n = {n}", f"{bounds[n]:.2f}", per_dim(bounds[n]), "-")
        for n in eval_steps
    ]
    rows += [
        (
            "Gated PixelCNN, unconditional (block `pixelcnn_mnist`)",
            f"{PIXELCNN_UNCONDITIONAL:.2f}",
            per_dim(PIXELCNN_UNCONDITIONAL, MNIST_DIMS),
            "-",
        ),
        (
            "Gated PixelCNN, class-conditional (block `pixelcnn_mnist`)",
            f"{PIXELCNN_CONDITIONAL:.2f}",
            per_dim(PIXELCNN_CONDITIONAL, MNIST_DIMS),
            "-",
        ),
    ]
    model_text = (
        f"(beta_1 = {config['beta_1']}, {config['num_layers']} blocks of "
        f"{config['filters']} filters, trained on L^inf), {image_fit.steps} steps of "
        f"batch {FLAGS.batch_size} in {image_fit.elapsed:.0f} s"
    )
    if FLAGS.tiny:
        text = (
            f"`--tiny` smoke run, measures nothing: `bfn_discrete` with test "
            f"hyper-parameters on `{image_data}` ({len(mnist_test['image'])} test images) "
            f"{model_text}; the PixelCNN rows are the MNIST numbers.\n\n"
        )
    else:
        text = (
            f"Binarised MNIST, our 5k subset (4,000 train / 1,000 test images, static "
            f"binarisation at 0.5): `bfn_discrete` with default hyper-parameters {model_text} "
            f"(time cap {FLAGS.mnist_seconds:.0f} s; "
            f"~{image_fit.steps * FLAGS.batch_size / 4000:.1f} "
            f"epochs). Each bound is one Monte Carlo sample per test image (seeded), so it is "
            f"an estimate of the upper bound on nats/image. The paper trains on 60k images for "
            f"far longer with a larger network and evaluates on the 10k test set, so the "
            f"paper's number marks the scale difference, not a like-for-like comparison; "
            f"the PixelCNN rows "
            f"are on the same 1,000 test images (same subset, 1000 steps of batch 32). "
            f"{results.machine()}.\n\n"
        )
    text += results.markdown_table(("model", "test nats/image", "test bits/dim", "paper"), rows)
    text += (
        f"\n\nText: `bfn_discrete_text` on `text` (our small byte corpus, sequences of "
        f"{FLAGS.seq_len} bytes, K = 256, beta_1 = {text_config['beta_1']}, "
        f"{text_config['num_layers']} transformer layers of width "
        f"{text_config['model_dim']}), {text_fit.steps} steps of batch {FLAGS.batch_size} in "
        f"{text_fit.elapsed:.0f} s (time cap {FLAGS.text_seconds:.0f} s), "
        f"{len(text_test['tokens'])} test sequences, L^inf + L^r:\n\n"
    )
    text += results.markdown_table(
        ("model", "test bits/char", "paper"),
        [
            (
                "`bfn_discrete_text`",
                f"{bits_per_char:.3f}",
                f"BFN {PAPER_TEXT8} on text8 (27 symbols): a different corpus, alphabet and scale",
            )
        ],
    )
    text += (
        f"\n\nSamples: `{results.shown_path(plot)}` "
        f"(rows: n = {', '.join(map(str, eval_steps))} sampling steps, same seed). "
        f"Whole script: {time.perf_counter() - wall:.0f} s."
    )
    results.write_block("bfn_results", text)


if __name__ == "__main__":
    app.run(main)
