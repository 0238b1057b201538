"""Mixture-posterior VAE against the single-Gaussian VAE on binarised MNIST (5k subset).

Trains `mixture_vae` with `num_components` K = 1 (the usual Gaussian
posterior) and K > 1 (a mixture posterior differentiated with Graves'
implicit gradients, arXiv 1607.05690) for the same number of steps and batch
size, then scores both on the 1,000-image test split: the ELBO (averaged over
`--elbo_draws` posterior draws per image) and the importance-weighted bound
with `--iw_samples` samples. Writes its table into docs/RESULTS.md (unless
`--nowrite`).

    python -m bench.mixture_vae [--steps 5000] [--batch_size 64] [--components 1,3]
    python -m bench.mixture_vae --tiny   # test-size VAEs on 8x8 `digits`, K = 1, 2: a smoke run
"""

import time

import numpy as np
import tensorflow as tf
from absl import app, flags

from bench import results
from tests.conformance import goldens
from tfgen import data, registry

FLAGS = flags.FLAGS
flags.DEFINE_integer("steps", 5000, "Training steps per model.")
flags.DEFINE_integer("batch_size", 64, "Training batch size.")
flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate.")
flags.DEFINE_list("components", ["1", "3"], "num_components of the models to compare.")
flags.DEFINE_integer("elbo_draws", 10, "Posterior draws per test image for the ELBO.")
flags.DEFINE_integer("iw_samples", 100, "Importance samples of the log_prob bound.")


def _setup():
    """(dataset, options, hyper-parameter overrides): binarised MNIST at the default size.

    In a `--tiny` run: the model's test size on its test data (binarised 8x8 `digits`).
    """
    if FLAGS.tiny:
        golden = goldens.GOLDENS["mixture_vae"]
        return golden.dataset, dict(golden.dataset_options), dict(golden.hparams)
    return "mnist", {"view": "binary"}, {}


def _test_images(dataset, options):
    batches = data.load(dataset, "test", batch_size=1000, shuffle=False, **options)
    return np.concatenate([b["image"].numpy() for b in batches])


def _train_and_score(num_components, test, dataset, options, hparams):
    tf.keras.utils.set_random_seed(0)
    model = registry.build(
        "mixture_vae", {**hparams, "num_components": num_components}, dataset, options
    )
    model.compile(tf.keras.optimizers.Adam(FLAGS.learning_rate))
    train = data.load(dataset, "train", batch_size=FLAGS.batch_size, repeat=True, seed=0, **options)
    start = time.perf_counter()
    model.fit(train, steps_per_epoch=FLAGS.steps, epochs=1, verbose=2)
    seconds = time.perf_counter() - start
    elbo = tf.function(model.elbo)
    bound = tf.function(model.log_prob)
    elbos = np.mean(
        [elbo(test, tf.constant(seed, tf.int64)).numpy() for seed in range(FLAGS.elbo_draws)],
        axis=0,
    )
    bounds = np.concatenate(
        [
            bound(
                test[i : i + 100], tf.constant(FLAGS.iw_samples), tf.constant(0, tf.int64)
            ).numpy()
            for i in range(0, len(test), 100)
        ]
    )
    weights = tf.nn.softmax(
        model.posterior(tf.reshape(tf.cast(test, tf.float32), [len(test), -1])).logits
    ).numpy()
    entropy = float(np.mean(-np.sum(weights * np.log(np.maximum(weights, 1e-30)), axis=1)))
    return float(np.mean(elbos)), float(np.mean(bounds)), entropy, seconds


def main(argv):
    del argv
    results.tiny_defaults(steps=2, batch_size=4, components=["1", "2"], elbo_draws=1, iw_samples=2)
    dataset, options, hparams = _setup()
    test = _test_images(dataset, options)
    config = {**registry.get("mixture_vae").hparams, **hparams}
    rows = []
    for k in map(int, FLAGS.components):
        elbo, bound, entropy, seconds = _train_and_score(k, test, dataset, options, hparams)
        name = "Gaussian posterior (K=1)" if k == 1 else f"mixture posterior, K={k}"
        rows.append(
            (
                name,
                f"{-elbo:.2f}",
                f"{-bound:.2f}",
                f"{entropy:.3f} / {np.log(k):.3f}",
                f"{1000 * seconds / FLAGS.steps:.1f}",
            )
        )
    data_text = (
        f"`--tiny` smoke run, measures nothing: `{dataset}` ({len(test)} test images)"
        if FLAGS.tiny
        else "Binarised MNIST, our 5k subset (4,000 train / 1,000 test "
        "images, static binarisation at 0.5)"
    )
    text = (
        f"{data_text}; VAE with latent_dim={config['latent_dim']}, "
        f"hidden_units={config['hidden_units']}, the same {FLAGS.steps} Adam steps of batch "
        f"{FLAGS.batch_size} for each posterior; test ELBO averaged over "
        f"{FLAGS.elbo_draws} draws per image, IW bound with {FLAGS.iw_samples} samples "
        f"(nats/image, lower is better); the entropy of q's mixture weights, averaged over "
        f"the test images, shows whether the components are used; {results.machine()}.\n\n"
    )
    text += results.markdown_table(
        (
            "q(z\\|x)",
            "test -ELBO",
            f"test -L_{FLAGS.iw_samples}",
            "weight entropy / max (nats)",
            "ms/step",
        ),
        rows,
    )
    results.write_block("mixture_vae", text)


if __name__ == "__main__":
    app.run(main)
