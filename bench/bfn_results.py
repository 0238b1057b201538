"""Bayesian Flow Networks: nats/image on binarised MNIST, bits/char on `text`, samples vs steps.

1. Trains `bfn_discrete` on binarised `mnist` (the embedded 5k subset, 4,000
   train / 1,000 test images) with Keras `fit` for at most `--mnist_steps`
   steps or `--mnist_seconds` seconds, whichever comes first, and scores the
   1,000 test images with the continuous-time bound L^inf + L^r and the n-step
   bounds L^n + L^r (n = 10, 25, 100), beside the Gated PixelCNN's numbers on
   the same split (docs/RESULTS.md, block `pixelcnn_mnist`) and the paper's.
2. Trains `bfn_discrete_text` on `text` for `--text_steps` steps (the learning
   rate warms up and decays to 0 over them; `--text_seconds` is a guard that a
   normal run does not reach) and reports test bits/char (L^inf + L^r) beside unigram and
   bigram models counted on the training split and `bytenet_lm` (its number from
   docs/RESULTS.md, block `bytenet`).
3. Draws `bfn_discrete` samples with 10, 25 and 100 steps into a PNG grid
   (rows = steps, the same seed on every row): docs/bfn_samples.png.
4. Writes the table into docs/RESULTS.md (block `bfn_results`) unless `--nowrite`.

    python -m bench.bfn_results [--mnist_steps 2000] [--mnist_seconds 340]
                                [--text_steps 4000] [--text_seconds 900] [--nowrite]

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
from bench import sequence_tasks as tasks
from tests.conformance import goldens
from tfgen import data, registry
from tfgen.data import text as text_corpus

FLAGS = flags.FLAGS
flags.DEFINE_integer("mnist_steps", 2000, "Maximum training steps for bfn_discrete on mnist.")
flags.DEFINE_float("mnist_seconds", 340.0, "Training time cap (s) for bfn_discrete.")
flags.DEFINE_integer("text_steps", 4000, "Training steps for bfn_discrete_text.")
flags.DEFINE_float("text_seconds", 900.0, "Training time cap (s) for bfn_discrete_text.")
flags.DEFINE_integer(
    "text_eval_samples", 16, "Monte Carlo samples of L^inf + L^r per `text` test sequence."
)
flags.DEFINE_integer("batch_size", 32, "Training batch size.")
flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate of bfn_discrete.")
flags.DEFINE_float(
    "text_learning_rate",
    2e-3,
    "Peak Adam learning rate of bfn_discrete_text: a linear warm-up over the first 5% of "
    "--text_steps, then a cosine decay to 0 at --text_steps.",
)
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
BYTENET_LM = 1.750  # docs/RESULTS.md, block bytenet: `bytenet_lm` on the same `text` test split
PAPER_ENWIK8 = 1.31  # ByteNet paper, enwik8


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


def _cosine(peak, steps):
    """A linear warm-up over 5% of `steps` to `peak`, then a cosine decay to 0 at `steps`."""
    warmup = max(1, steps // 20)
    return tf.keras.optimizers.schedules.CosineDecay(
        0.0, max(1, steps - warmup), warmup_target=peak, warmup_steps=warmup
    )


def _train(name, overrides, dataset, options, max_steps, seconds, learning_rate):
    tf.keras.utils.set_random_seed(0)
    model = registry.build(name, overrides, dataset, options)
    model.compile(tf.keras.optimizers.Adam(learning_rate), jit_compile=True)
    train = data.load(dataset, "train", batch_size=FLAGS.batch_size, repeat=True, **options)
    limit = results.TimeLimit(seconds)
    model.fit(train, steps_per_epoch=max_steps, epochs=1, verbose=2, callbacks=[limit])
    return model, limit


def _score(model, features, steps, samples=1, batch=250):
    """Mean bound (nats per example) over `features` and its Monte Carlo standard error.

    Each of `samples` passes draws one seeded Monte Carlo sample per example (its own t,
    or step i, and noise); the error is the spread of the pass means over sqrt(samples)
    (nan for one pass).
    """
    log_prob = tf.function(lambda f, s: model.log_prob(f, steps=steps, seed=s))
    count = len(next(iter(features.values())))
    means = [
        np.mean(
            np.concatenate(
                [
                    -log_prob(
                        {k: v[i : i + batch] for k, v in features.items()},
                        tf.constant(i + count * r, tf.int64),
                    )
                    for i in range(0, count, batch)
                ]
            )
        )
        for r in range(samples)
    ]
    error = np.std(means, ddof=1) / np.sqrt(samples) if samples > 1 else float("nan")
    return float(np.mean(means)), float(error)


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
        mnist_steps=2,
        text_steps=2,
        text_eval_samples=2,
        batch_size=4,
        seq_len=16,
        eval_steps=["2", "4"],
        num_samples=2,
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
        FLAGS.learning_rate,
    )
    test_images = {"image": mnist_test["image"]}
    bounds = {0: _score(image_model, test_images, 0)[0]}
    for n in eval_steps:
        bounds[n] = _score(image_model, test_images, n)[0]

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
        _cosine(FLAGS.text_learning_rate, FLAGS.text_steps),
    )
    text_nats, text_error = _score(
        text_model, {"tokens": text_test["tokens"]}, 0, FLAGS.text_eval_samples
    )
    bits_per_char, bits_error = (x / FLAGS.seq_len / np.log(2) for x in (text_nats, text_error))

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
        f"{FLAGS.seq_len} bytes, K = 256; beta_1 = {text_config['beta_1']}, the paper's rule "
        f"for K = 256 (`discrete_beta_1(256)`: 0.2 bits of expected input entropy left at "
        f"t = 1, as text8's sqrt(beta(1)) = 0.75 leaves for K = 27); "
        f"{text_config['num_layers']} transformer layers of width "
        f"{text_config['model_dim']} over an input convolution of "
        f"{text_config['kernel_size']} positions), {text_fit.steps} steps of batch "
        f"{FLAGS.batch_size} (Adam, peak learning rate {FLAGS.text_learning_rate:g}, warm-up "
        f"and cosine decay) in {text_fit.elapsed:.0f} s (time cap {FLAGS.text_seconds:.0f} s), "
        f"{len(text_test['tokens'])} test sequences, L^inf + L^r averaged over "
        f"{FLAGS.text_eval_samples} Monte Carlo samples per sequence (± its standard error); "
        f"every byte is scored (the n-grams: every byte after a window's first):\n\n"
    )
    unigram, bigram = tasks.ngram_bits_per_char(
        text_corpus.split_bytes()["train"], text_test["tokens"]
    )
    text += results.markdown_table(
        ("model", "test bits/char", "paper"),
        [
            ("unigram (training-split counts, add-one)", f"{unigram:.3f}", "-"),
            ("bigram (training-split counts, add-one)", f"{bigram:.3f}", "-"),
            (
                "`bytenet_lm` (block `bytenet`: windows of 128 bytes, 1200 steps of batch 16)",
                f"{BYTENET_LM:.3f}",
                f"ByteNet {PAPER_ENWIK8} on enwik8",
            ),
            (
                "`bfn_discrete_text`, L^inf + L^r",
                f"{bits_per_char:.3f} ± {bits_error:.3f}",
                f"BFN {PAPER_TEXT8} on text8 (27 symbols): a different corpus, alphabet and scale",
            ),
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
