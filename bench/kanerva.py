"""Kanerva Machine against the same encoder/decoder without memory, on episodes of binarised MNIST.

1. Trains the VAE baseline (`mixture_vae` with one component, `latent_dim` =
   the Kanerva Machine's `code_size`, the same `hidden_units`) on shuffled
   batches of `--episodes_per_batch` x T training images.
2. Trains `kanerva_machine` twice on the same images and batch size: on random
   episodes (shuffled batches cut into episodes of T) and on one-class episodes
   (`class_episodes`: T images of one random digit class each).
3. Scores the 1,000 test images every `--eval_every` steps, grouped two ways
   into episodes of T (the split's fixed order: random episodes; sorted by
   label: one-class episodes), in nats per image: each Kanerva Machine's
   episode bound divided by T and the VAE's ELBO (the same images either
   way), averaged over `--elbo_draws` draws.
4. Recall: writes each clean test episode into memory, then reads corrupted
   copies of its images (each pixel flipped with probability p) for 1..k
   iterations, against the VAE's reconstruction of the same corrupted images;
   and draws the denoising picture docs/kanerva_denoising.png.
5. Writes the tables into docs/RESULTS.md (block `kanerva`) unless `--nowrite`.

    python -m bench.kanerva [--steps 4000] [--seconds 240] [--nowrite]
    python -m bench.kanerva --tiny   # test-size models on 8x8 `digits`, 2 steps: a smoke run

Each training run stops at `--steps` steps or `--seconds` seconds, whichever
comes first; the table states the steps taken.
"""

import os
import time

import numpy as np
import tensorflow as tf
from absl import app, flags

from bench import results
from tests import baselines
from tests.conformance import goldens
from tfgen import data, registry
from tfgen.models.kanerva import class_episodes

FLAGS = flags.FLAGS
flags.DEFINE_integer("steps", 4000, "Maximum training steps per model.")
flags.DEFINE_float("seconds", 240.0, "Training time cap (s) per model.")
flags.DEFINE_integer("episodes_per_batch", 4, "Episodes per training batch (x T images).")
flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate.")
flags.DEFINE_integer("elbo_draws", 5, "Draws per test episode of the bounds.")
flags.DEFINE_integer("eval_every", 1000, "Steps between two scorings of the test images.")
flags.DEFINE_list(
    "corruptions", ["0", "0.1", "0.2", "0.3"], "Probabilities of flipping a query pixel."
)
flags.DEFINE_integer("iterations", 3, "Reads of each corrupted query (1..iterations).")
flags.DEFINE_float("plot_flip", 0.2, "Probability of flipping a query pixel in the picture.")
flags.DEFINE_string(
    "plot",
    os.path.join(results.DOCS, "kanerva_denoising.png"),
    "Where to write the denoising picture.",
)

# Per-image results of other models on the same 1,000 MNIST test images (docs/RESULTS.md).
OTHER_MODELS = [
    ("VAE, Gaussian posterior, latent 16", "mixture_vae", 105.97),
    ("BFN `bfn_discrete`, L^inf + L^r", "bfn_results", 85.25),
    ("Gated PixelCNN, unconditional", "pixelcnn_mnist", 65.56),
]


def _setup():
    """(dataset, options, Kanerva Machine overrides): binarised MNIST, or the golden's in --tiny."""
    if FLAGS.tiny:
        golden = goldens.GOLDENS["kanerva_machine"]
        return golden.dataset, dict(golden.dataset_options), dict(golden.hparams)
    return "mnist", {"view": "binary"}, {}


def _arrays(dataset, split, options):
    batches = list(data.load(dataset, split, batch_size=5000, shuffle=False, **options))
    return (
        np.concatenate([b["image"].numpy() for b in batches]),
        np.concatenate([b["label"].numpy() for b in batches]),
    )


def _class_stream(images, labels, length):
    """Endless batches of `--episodes_per_batch` one-class episodes of `length` images."""
    count = FLAGS.episodes_per_batch

    def generate():
        for seed in range(2**62):
            yield {"image": class_episodes(images, labels, count, length, seed=seed)}

    spec = tf.TensorSpec([count * length, *images.shape[1:]], tf.int32)
    return tf.data.Dataset.from_generator(generate, output_signature={"image": spec})


class _TestCurve(tf.keras.callbacks.Callback):
    """Calls `score()` every `every` steps and at the end: `curve` maps steps to scores."""

    def __init__(self, every, score):
        super().__init__()
        self.every, self.score, self.curve, self.steps = every, score, {}, 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.steps % self.every == 0:
            self.curve[self.steps] = self.score()

    def on_train_end(self, logs=None):
        if self.steps not in self.curve:
            self.curve[self.steps] = self.score()


def _train(name, hparams, dataset, options, train, scorer):
    """Trains model `name`; returns it, its time limit and its test curve `scorer(model)()`."""
    tf.keras.utils.set_random_seed(0)
    model = registry.build(name, hparams, dataset, options)
    model.compile(tf.keras.optimizers.Adam(FLAGS.learning_rate), jit_compile=True)
    limit = results.TimeLimit(FLAGS.seconds)
    curve = _TestCurve(FLAGS.eval_every, scorer(model))
    model.fit(train, steps_per_epoch=FLAGS.steps, epochs=1, verbose=2, callbacks=[limit, curve])
    return model, limit, curve.curve


def _kanerva_scorer(test):
    """`scorer(model)()`: {grouping: test nats/image of the episode bound / T}."""

    def scorer(model):
        bound = tf.function(model.log_prob)

        def score():
            return {
                grouping: float(
                    -np.mean(
                        [
                            bound(e, tf.constant(s, tf.int64)).numpy()
                            for s in range(FLAGS.elbo_draws)
                        ]
                    )
                    / e.shape[1]
                )
                for grouping, e in test.items()
            }

        return score

    return scorer


def _vae_scorer(images):
    """`scorer(model)()`: the VAE's test nats/image, -ELBO."""

    def scorer(model):
        elbo = tf.function(model.elbo)
        return lambda: float(
            -np.mean(
                [elbo(images, tf.constant(s, tf.int64)).numpy() for s in range(FLAGS.elbo_draws)]
            )
        )

    return scorer


def _vae_reconstruction(model, images):
    """Bernoulli means of the VAE's decoder at the posterior mean, shaped like `images`."""
    x = tf.reshape(tf.cast(images, tf.float32), [-1, model.num_dims])
    return tf.reshape(tf.sigmoid(model.decode(model.posterior(x).loc[:, 0])), images.shape).numpy()


def _wrong_pixels(probs, target):
    """The percentage of pixels where `probs` > 0.5 disagrees with binary `target`."""
    return 100 * np.mean((probs > 0.5) != target)


def _recall_cell(probs, target):
    """ "nats / % wrong pixels": -log p(target | probs) per image and `_wrong_pixels`."""
    pixels = np.prod(target.shape[-3:])
    p = np.clip(probs, 1e-6, 1 - 1e-6).reshape(-1, pixels)
    t = target.reshape(-1, pixels)
    nats = -np.mean(np.sum(t * np.log(p) + (1 - t) * np.log1p(-p), axis=1))
    return f"{nats:.1f} / {_wrong_pixels(probs, target):.1f}%"


def _corrupt(episodes, probability, seed):
    flips = np.random.default_rng(seed).random(episodes.shape) < probability
    return np.where(flips, 1 - episodes, episodes).astype(np.float32)


def _reads(model, episodes, query):
    """The reconstructions after 1..--iterations reads of `query` from the episodes' memory."""
    memory_mean, memory_covariance = model.write(episodes)
    return [
        model.read(memory_mean, memory_covariance, query, k)[0].numpy()
        for k in range(1, FLAGS.iterations + 1)
    ]


def _write_plot(model, vae, episodes, path):
    plt = results.pyplot()

    probability = FLAGS.plot_flip
    query = _corrupt(episodes, probability, seed=1)
    reads = _reads(model, episodes, query)
    picks = [(e, 0) for e in np.linspace(0, len(episodes) - 1, 8).astype(int)]
    rows = [("stored", episodes), (f"query ({probability:.0%} flipped)", query)]
    rows += [(f"read {k + 1}", read) for k, read in enumerate(reads)]
    rows.append(("VAE", _vae_reconstruction(vae, query)))
    fig, axes = plt.subplots(len(rows), 1, figsize=(len(picks) * 0.8, len(rows) * 0.9))
    for ax, (title, images) in zip(axes, rows):
        ax.imshow(
            np.concatenate([images[e, t, ..., 0] for e, t in picks], axis=1),
            cmap="gray_r",
            vmin=0,
            vmax=1,
            interpolation="nearest",
        )
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(title, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(
        "Kanerva Machine: iterative reading of corrupted digits from a stored one-class episode",
        fontsize=8,
    )
    fig.tight_layout()
    results.save_figure(fig, path)


def main(argv):
    del argv
    results.tiny_defaults(steps=2, episodes_per_batch=2, elbo_draws=1, eval_every=1, iterations=2)
    wall = time.perf_counter()
    dataset, options, hparams = _setup()
    config = {**registry.get("kanerva_machine").hparams, **hparams}
    length = config["episode_length"]
    train_images, train_labels = _arrays(dataset, "train", options)
    test_images, test_labels = _arrays(dataset, "test", options)
    count = len(test_images) // length * length
    shape = (-1, length, *test_images.shape[1:])
    test = {
        "random": test_images[:count].reshape(shape),
        "one-class": test_images[np.argsort(test_labels, kind="stable")][:count].reshape(shape),
    }
    batch = FLAGS.episodes_per_batch * length
    shuffled = data.load(dataset, "train", batch_size=batch, repeat=True, seed=0, **options)

    vae_config = {
        "num_components": 1,
        "latent_dim": config["code_size"],
        "hidden_units": config["hidden_units"],
    }
    vae, vae_limit, vae_curve = _train(
        "mixture_vae", vae_config, dataset, options, shuffled, _vae_scorer(test_images[:count])
    )
    class_stream = _class_stream(train_images, train_labels, length)
    memories = {
        grouping: _train("kanerva_machine", hparams, dataset, options, train, _kanerva_scorer(test))
        for grouping, train in (("random", shuffled), ("one-class", class_stream))
    }
    pixels = baselines.independent_pixel_nats(train_images, test_images[:count])

    points = sorted(set(vae_curve).union(*(curve for _, _, curve in memories.values())))

    def cells(curve, grouping=None):
        return [
            "-"
            if step not in curve
            else f"{curve[step] if grouping is None else curve[step][grouping]:.2f}"
            for step in points
        ]

    def trained(limit):
        return f"{limit.steps} / {limit.elapsed:.0f}"

    rows = [
        (
            "VAE, same encoder/decoder, no memory",
            "shuffled images",
            "any",
            *cells(vae_curve),
            trained(vae_limit),
        ),
    ]
    for trained_on, tested_on in (
        ("random", "random"),
        ("one-class", "one-class"),
        ("one-class", "random"),
    ):
        _, limit, curve = memories[trained_on]
        rows.append(
            (
                "Kanerva Machine",
                f"{trained_on} episodes",
                f"{tested_on} episodes",
                *cells(curve, tested_on),
                trained(limit),
            )
        )
    blank = ["-"] * (len(points) - 1)
    rows.append(
        ("independent pixels (Bernoulli per pixel)", "-", "any", *blank, f"{pixels:.2f}", "-")
    )
    rows += [
        (name, f"(block `{block}`)", "any", *blank, f"{nats:.2f}", "-")
        for name, block, nats in OTHER_MODELS
    ]
    recall_rows = []
    for grouping, episodes in test.items():
        model = memories[grouping][0]  # trained on episodes like these
        for probability in map(float, FLAGS.corruptions):
            query = _corrupt(episodes, probability, seed=0)
            recall_rows.append(
                (
                    grouping,
                    f"{probability:.0%}",
                    f"{_wrong_pixels(query, episodes):.1f}%",
                    _recall_cell(_vae_reconstruction(vae, query), episodes),
                    *(_recall_cell(read, episodes) for read in _reads(model, episodes, query)),
                )
            )
    plot = results.output_path(FLAGS.plot)
    _write_plot(memories["one-class"][0], vae, test["one-class"], plot)

    data_text = (
        f"`--tiny` smoke run, measures nothing: `{dataset}` ({count} test images)"
        if FLAGS.tiny
        else "Binarised MNIST, our 5k subset (4,000 train / 1,000 test "
        "images, static binarisation at 0.5)"
    )
    text = (
        f"{data_text}; episodes of T = {length} images; Kanerva Machine with "
        f"K = {config['memory_size']} memory rows, codes of C = {config['code_size']}, "
        f"keys of {config['key_size']}, y of {config['address_size']}, hidden_units="
        f"{config['hidden_units']}; the VAE has the same encoder and decoder and a "
        f"{config['code_size']}-dimensional code. Every model: Adam {FLAGS.learning_rate}, "
        f"batches of {FLAGS.episodes_per_batch} x {length} = {batch} images, at most "
        f"{FLAGS.steps} steps or {FLAGS.seconds:.0f} s (steps taken / seconds, scoring "
        f"included, in the last column). Test nats per image (lower is better) after the "
        f"stated training steps: "
        f"the Kanerva Machine's episode bound / T, the VAE's ELBO, each averaged over "
        f"{FLAGS.elbo_draws} draws; the test images are the same {count} in both groupings "
        f"(random episodes: the split's fixed order; "
        f"one-class: sorted by label). {results.machine()}.\n\n"
    )
    text += results.markdown_table(
        ("model", "trained on", "test images", *(f"step {step}" for step in points), "steps / s"),
        rows,
    )
    text += (
        "\n\nRecall from memory: each clean test episode is written (`write`), then its "
        "images are read (`read`) from copies with each pixel flipped with the stated "
        "probability, by the Kanerva Machine trained on that kind of episode (at the end of "
        "its training); the VAE "
        "reconstructs the same corrupted copies (decoder at the posterior mean). Cells: "
        "-log p(clean image | reconstruction) in nats / % wrong pixels (probability "
        "> 0.5); the query column gives the % wrong pixels of the corrupted copy "
        "itself.\n\n"
    )
    reads = [f"read {k}" for k in range(1, FLAGS.iterations + 1)]
    text += results.markdown_table(
        ("episodes", "pixels flipped", "query", "VAE", *reads), recall_rows
    )
    text += (
        f"\n\nPicture: `{results.shown_path(plot)}` (one-class test episodes). Whole "
        f"script: {time.perf_counter() - wall:.0f} s."
    )
    results.write_block("kanerva", text)


if __name__ == "__main__":
    app.run(main)
