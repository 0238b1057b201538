"""Associative Compression Networks: coding cost on binarised MNIST against an unconditional prior.

1. Trains `acn` (the prior conditioned on a neighbour's code) on binarised
   `mnist` (the embedded 5k subset, 4,000 train / 1,000 test images) with
   Keras `fit` for at most `--steps` steps or `--seconds` seconds, whichever
   comes first; then trains the unconditional-prior ablation
   (`associative=False`, the same encoder, prior network and decoder) for the
   same number of steps.
2. Recomputes the stored training codes with the final encoder and scores the
   1,000 test images: KL + reconstruction in nats per image, the neighbour
   taken among the training codes (the nearest one, and averaged over the K
   nearest as in the loss `L^ACN`), `--draws` posterior draws per image.
3. Writes daydream chains (the paper's sampling procedure) from test images as a PNG:
   docs/acn_daydream.png.
4. Writes the table into docs/RESULTS.md (block `acn`) unless `--nowrite`.

    python -m bench.acn [--steps 3000] [--seconds 540] [--batch_size 32] [--nowrite]
    python -m bench.acn --tiny   # test-size models on 8x8 `digits`, 2 steps: a smoke run
"""

import functools
import os
import time

import numpy as np
import tensorflow as tf
from absl import app, flags

from bench import results
from tests.conformance import goldens
from tfgen import data, registry

FLAGS = flags.FLAGS
flags.DEFINE_integer(
    "steps", 3000, "Maximum training steps of the ACN (the ablation takes as many)."
)
flags.DEFINE_float("seconds", 540.0, "Training time cap (s) of the ACN.")
flags.DEFINE_integer("batch_size", 32, "Training batch size.")
flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate.")
flags.DEFINE_integer("draws", 4, "Posterior draws z ~ q(z|x) per test image.")
flags.DEFINE_integer("chains", 8, "Daydream chains in the PNG (one per row).")
flags.DEFINE_integer("chain_steps", 10, "Daydream steps per chain.")
flags.DEFINE_string(
    "plot", os.path.join(results.DOCS, "acn_daydream.png"), "Where to write the daydream chains."
)

# The other models on the same 1,000 test images (docs/RESULTS.md blocks).
INDEPENDENT_PIXELS = 207.20  # block pixelcnn_mnist
OTHER_MODELS = (
    ("Gated PixelCNN, unconditional (block `pixelcnn_mnist`)", 65.56),
    ("Gated PixelCNN, class-conditional (block `pixelcnn_mnist`)", 61.13),
    ("BFN, `bfn_discrete` L^inf + L^r (block `bfn_results`)", 85.25),
    ("VAE, Gaussian posterior, -ELBO (block `mixture_vae`)", 105.97),
)
PAPER = 73.9  # ACN paper, abstract: binarised MNIST (60k train / 10k test), an upper bound


def _setup():
    """(dataset, options, hyper-parameter overrides): binarised MNIST, or `--tiny`'s digits."""
    if FLAGS.tiny:
        golden = goldens.GOLDENS["acn"]
        return golden.dataset, dict(golden.dataset_options), dict(golden.hparams)
    return "mnist", {"view": "binary"}, {}


def _images(dataset, split, options):
    batches = data.load(dataset, split, batch_size=1000, shuffle=False, **options)
    return np.concatenate([b["image"].numpy() for b in batches])


def _train(associative, steps, seconds, dataset, options, hparams, train_images):
    tf.keras.utils.set_random_seed(0)
    model = registry.build("acn", {**hparams, "associative": associative}, dataset, options)
    model.compile(tf.keras.optimizers.Adam(FLAGS.learning_rate))
    train = data.load(dataset, "train", batch_size=FLAGS.batch_size, repeat=True, **options)
    limit = results.TimeLimit(seconds)
    model.fit(train, steps_per_epoch=steps, epochs=1, verbose=2, callbacks=[limit])
    model.refresh_code_index(train_images)  # the stored codes of the final encoder
    return model, limit


def _score(model, test, ranks, batch=250):
    """Mean test KL and reconstruction (nats/image) over `--draws` z-draws and c~ `ranks`."""
    parts = []
    for rank in ranks:
        cost = tf.function(functools.partial(model.coding_cost, rank=rank), reduce_retracing=True)
        for draw in range(FLAGS.draws):
            for i in range(0, len(test), batch):
                costs = cost(test[i : i + batch], tf.constant(draw, tf.int64))
                parts.append(np.stack([costs["kl"], costs["reconstruction"]], axis=1))
    kl, reconstruction = np.concatenate(parts).mean(axis=0)
    return float(kl), float(reconstruction)


def _write_chains(model, test, path):
    plt = results.pyplot()

    images, _ = model.daydream(test[: FLAGS.chains], FLAGS.chain_steps, seed=1)
    rows = np.concatenate([test[: FLAGS.chains, None], images.numpy()], axis=1)[..., 0]
    grid = np.concatenate([np.concatenate(list(row), axis=1) for row in rows], axis=0)
    fig, ax = plt.subplots(figsize=(0.6 * rows.shape[1], 0.6 * rows.shape[0] + 0.5))
    ax.imshow(grid, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(
        "ACN daydreams: a test image (left), then z ~ p(z|c), x ~ r(x|z), c = code of x, repeated",
        fontsize=8,
    )
    fig.tight_layout()
    results.save_figure(fig, path)


def main(argv):
    del argv
    results.tiny_defaults(steps=2, batch_size=4, draws=1, chains=2, chain_steps=2)
    wall = time.perf_counter()
    dataset, options, hparams = _setup()
    train, test = _images(dataset, "train", options), _images(dataset, "test", options)
    acn, acn_fit = _train(True, FLAGS.steps, FLAGS.seconds, dataset, options, hparams, train)
    ablation, ablation_fit = _train(False, acn_fit.steps, None, dataset, options, hparams, train)
    k = acn.num_neighbours
    scores = [
        (
            "ACN, c~ = the nearest training code",
            _score(acn, test, [0]),
            f"ACN {PAPER} (60k binarised MNIST)",
        ),
        (f"ACN, c~ uniform over the K = {k} nearest (L^ACN)", _score(acn, test, range(k)), "-"),
        (
            "unconditional prior (ablation: the same networks, p(z) a learned mixture)",
            _score(ablation, test, [0]),
            "-",
        ),
    ]
    rows = [
        (name, f"{kl:.2f}", f"{rec:.2f}", f"{kl + rec:.2f}", paper)
        for name, (kl, rec), paper in scores
    ]
    rows += [
        ("independent pixels (block `pixelcnn_mnist`)", "-", "-", f"{INDEPENDENT_PIXELS:.2f}", "-")
    ]
    rows += [(name, "-", "-", f"{nats:.2f}", "-") for name, nats in OTHER_MODELS]
    plot = results.output_path(FLAGS.plot)
    _write_chains(acn, test, plot)

    config = {**registry.get("acn").hparams, **hparams}
    model_text = (
        f"latent_dim={config['latent_dim']}, K={config['num_neighbours']}, a prior mixture of "
        f"{config['num_components']} Gaussians, MLPs of {config['hidden_units']} units, a Gated "
        f"PixelCNN decoder of {config['num_layers']} layers x {config['filters']} filters; "
        f"ACN {acn_fit.steps} Adam steps of batch {FLAGS.batch_size} in "
        f"{acn_fit.elapsed:.0f} s (time cap {FLAGS.seconds:.0f} s, "
        f"~{acn_fit.steps * FLAGS.batch_size / len(train):.1f} epochs), the ablation the same "
        f"{ablation_fit.steps} steps in {ablation_fit.elapsed:.0f} s"
    )
    data_text = (
        f"`--tiny` smoke run, measures nothing: `{dataset}` ({len(test)} test images) "
        f"with test hyper-parameters"
        if FLAGS.tiny
        else "Binarised MNIST, our 5k subset (4,000 train / 1,000 test images, static "
        "binarisation at 0.5), default hyper-parameters"
    )
    text = (
        f"{data_text}: {model_text}. Test coding cost = KL(q(z|x) \\|\\| p(z|c~)) + "
        f"reconstruction -log r(x|z) in nats/image, {FLAGS.draws} z-draws per image (the KL "
        f"of the mixture prior is a Monte Carlo estimate); c~ is taken among the {len(train):,} "
        f"training codes, recomputed with the final encoder. The other rows are the other "
        f"models' numbers on the same 1,000 test images. The paper's 73.9 is on 60k/10k "
        f"MNIST with larger networks trained far longer. Daydreams: "
        f"`{results.shown_path(plot)}`. Whole script: {time.perf_counter() - wall:.0f} s; "
        f"{results.machine()}.\n\n"
    )
    text += results.markdown_table(
        ("model", "test KL", "test reconstruction", "test total (nats/image)", "paper"), rows
    )
    results.write_block("acn", text)


if __name__ == "__main__":
    app.run(main)
