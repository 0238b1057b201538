"""DRAW with and without attention on binarised MNIST (the embedded 5k subset): nats per image.

Trains `draw` with `attention=True` (2x2 read, 5x5 write through Gaussian
filterbanks) and `attention=False` (the whole image read and written) with the
same hyper-parameters, Adam steps and batch size, each for at most `--steps`
steps or `--seconds` seconds, whichever comes first. Scores the 1,000 test
images with the variational bound L^x + L^z (an upper bound on nats/image,
averaged over `--eval_draws` posterior draws per image), beside an
independent-pixel baseline fitted on the same training split, the other models'
numbers on the same split and the paper's. Also times the `sample` loop (graph
against XLA), and writes

- `docs/draw_canvas.png`: samples of both models, each row the canvases
  sigmoid(c_t) of one sample at a few t (the paper's Fig. 1 without the boxes);
- `docs/draw_glimpses.png`: where the attention model reads a test digit at a
  few t (the N x N grid of filter centres, Sec. 3.2).

The table goes into docs/RESULTS.md (block `draw`) unless `--nowrite`.

    python -m bench.draw [--steps 5000] [--seconds 540] [--batch_size 64]
                         [--hparams num_glimpses=32,hidden_units=128]

By default both models have half the paper's glimpses and LSTM width (T = 32,
128 units; the paper's MNIST model has T = 64 and 256 units), which trains
about 4x faster per step on a CPU.
    python -m bench.draw --tiny   # test-size models on 8x8 `digits`, 2 steps: a smoke run
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
from tfgen.layers.draw_attention import attention_window

FLAGS = flags.FLAGS
flags.DEFINE_integer("steps", 5000, "Maximum training steps per model.")
flags.DEFINE_float("seconds", 540.0, "Training time cap (s) per model.")
flags.DEFINE_integer("batch_size", 64, "Training batch size.")
flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate.")
flags.DEFINE_string(
    "hparams",
    "num_glimpses=32,hidden_units=128",
    "Hyper-parameter overrides for both models (key=value,...); the default halves the paper's "
    "glimpses and LSTM width to fit the time cap on 2 CPU cores.",
)
flags.DEFINE_integer("eval_draws", 4, "Posterior draws per test image for the bound.")
flags.DEFINE_integer("num_samples", 6, "Samples (rows) per model in the canvas figure.")
flags.DEFINE_integer("num_canvases", 8, "Canvases (columns) per sample in the canvas figure.")
flags.DEFINE_integer("sample_batch", 16, "Batch of the sampling-speed comparison.")
_DOCS = os.path.dirname(results.RESULTS)
flags.DEFINE_string("plot", os.path.join(_DOCS, "draw_canvas.png"), "The canvas figure.")
flags.DEFINE_string(
    "glimpse_plot", os.path.join(_DOCS, "draw_glimpses.png"), "The read-glimpse figure."
)

# Other models on the same 1,000 test images (docs/RESULTS.md blocks pixelcnn_mnist,
# bfn_results, mixture_vae).
OTHERS = (
    ("Gated PixelCNN, unconditional (block `pixelcnn_mnist`)", 65.56),
    ("Gated PixelCNN, class-conditional (block `pixelcnn_mnist`)", 61.13),
    ("BFN `bfn_discrete`, L^inf + L^r (block `bfn_results`)", 85.25),
    ("VAE, Gaussian posterior, -ELBO (block `mixture_vae`)", 105.97),
)
# arXiv 1502.04623, Table 2: binarised MNIST (60k train / 10k test), nats, upper bounds.
PAPER = {True: "DRAW <= 80.97", False: "DRAW without attention <= 87.40"}


def _setup():
    """(dataset, options, hyper-parameter overrides): binarised MNIST, or `--tiny` sizes."""
    overrides = registry.parse_hparams(FLAGS.hparams)
    if FLAGS.tiny:
        golden = goldens.GOLDENS["draw"]
        return golden.dataset, dict(golden.dataset_options), {**golden.hparams, **overrides}
    return "mnist", {"view": "binary"}, overrides


def _images(dataset, split, options):
    batches = data.load(dataset, split, batch_size=1000, shuffle=False, **options)
    return np.concatenate([b["image"].numpy() for b in batches])


def _train(attention, dataset, options, hparams):
    tf.keras.utils.set_random_seed(0)
    model = registry.build("draw", {**hparams, "attention": attention}, dataset, options)
    model.compile(tf.keras.optimizers.Adam(FLAGS.learning_rate))
    train = data.load(dataset, "train", batch_size=FLAGS.batch_size, repeat=True, seed=0, **options)
    limit = results.TimeLimit(FLAGS.seconds)
    model.fit(train, steps_per_epoch=FLAGS.steps, epochs=1, verbose=2, callbacks=[limit])
    return model, limit


def _score(model, test, batch=250):
    """(L^x + L^z, L^x, L^z): test means in nats/image over `--eval_draws` draws each."""
    signature = model.signatures()["log_prob"]
    totals = []
    for draw in range(FLAGS.eval_draws):
        parts = [
            signature(image=test[i : i + batch], seed=tf.constant(draw, tf.int64))
            for i in range(0, len(test), batch)
        ]
        totals.append(
            [
                np.concatenate([p[key].numpy() for p in parts]).mean()
                for key in ("nats_upper_bound", "reconstruction_loss", "latent_loss")
            ]
        )
    return np.mean(totals, axis=0)


def _sampling_seconds(model, jit_compile, repeats=3):
    def call():
        model.sample(FLAGS.sample_batch, seed=1, jit_compile=jit_compile)[0].numpy()

    return float(np.median(results.time_calls(call, repeats)))


def _canvas_steps(num_glimpses):
    """`--num_canvases` glimpse indices t (1-based) spread over 1..T, ending at T."""
    count = min(FLAGS.num_canvases, num_glimpses)
    return sorted({int(round(t)) for t in np.linspace(1, num_glimpses, count)})


def _write_canvases(models, path):
    plt = results.pyplot()

    fig, axes = plt.subplots(1, len(models), figsize=(6 * len(models), 0.9 * FLAGS.num_samples))
    for ax, (attention, model) in zip(np.atleast_1d(axes), models.items()):
        _, canvases = model.sample(FLAGS.num_samples, seed=1)
        steps = _canvas_steps(model.num_glimpses)
        rows = [
            np.concatenate([canvases[i, t - 1, ..., 0] for t in steps], axis=1)
            for i in range(FLAGS.num_samples)
        ]
        ax.imshow(
            np.concatenate(rows, axis=0), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest"
        )
        width = canvases.shape[3]
        ax.set_xticks([width * (k + 0.5) for k in range(len(steps))])
        ax.set_xticklabels([f"t={t}" for t in steps], fontsize=7)
        ax.set_yticks([])
        ax.set_title(f"{'with' if attention else 'without'} attention: sigmoid(c_t)", fontsize=9)
    fig.tight_layout()
    results.save_figure(fig, path)


def _write_glimpses(model, image, path):
    """The read grid (filter centres mu^i, Eqs. 19-24) over one test digit at a few t."""
    plt = results.pyplot()
    from matplotlib.patches import Rectangle

    height, width = model.image_shape[:2]
    windows = model.infer(image[None])["read_window"][0]  # [T, 5]
    g_x, g_y, delta, sigma2, _ = (
        v.numpy() for v in attention_window(windows, model.read_size, height, width)
    )
    steps = _canvas_steps(model.num_glimpses)
    fig, axes = plt.subplots(1, len(steps), figsize=(1.5 * len(steps), 1.9))
    half = (model.read_size - 1) / 2
    for ax, t in zip(np.atleast_1d(axes), steps):
        ax.imshow(image[..., 0], cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        i = t - 1  # 1-based pixel coordinates -> imshow's 0-based ones
        corner = (g_x[i] - half * delta[i] - 1, g_y[i] - half * delta[i] - 1)
        ax.add_patch(
            Rectangle(
                corner,
                2 * half * delta[i],
                2 * half * delta[i],
                fill=False,
                edgecolor="red",
                linewidth=float(np.clip(np.sqrt(sigma2[i]), 0.5, 4.0)),
            )
        )
        ax.set_xlim(-0.5, width - 0.5)
        ax.set_ylim(height - 0.5, -0.5)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"t={t}", fontsize=8)
    fig.suptitle(
        "read glimpses of the attention model (box: the grid of filter centres; "
        "border width: sigma, 0.5 to 4)",
        fontsize=7,
    )
    fig.tight_layout()
    results.save_figure(fig, path)


def main(argv):
    del argv
    results.tiny_defaults(
        steps=2, batch_size=4, hparams="", eval_draws=1, num_samples=2, sample_batch=2
    )
    wall = time.perf_counter()
    dataset, options, hparams = _setup()
    train, test = _images(dataset, "train", options), _images(dataset, "test", options)
    baseline = baselines.independent_pixel_nats(train, test)
    models, rows, timings = {}, [], []
    for attention in (True, False):
        model, fit = _train(attention, dataset, options, hparams)
        models[attention] = model
        nats, reconstruction, latent = _score(model, test)
        name = "DRAW with attention" if attention else "DRAW without attention"
        rows.append(
            (
                f"`draw`, {name.split(' ', 1)[1]}",
                f"{nats:.2f}",
                f"{reconstruction:.2f}",
                f"{latent:.2f}",
                f"{fit.steps} steps, {fit.elapsed:.0f} s",
                PAPER[attention],
            )
        )
        graph, xla = _sampling_seconds(model, False), _sampling_seconds(model, True)
        timings.append((name, f"{graph:.3f}", f"{xla:.3f}", f"{graph / xla:.2f}x"))
    rows.append(("independent pixels (Bernoulli per pixel)", f"{baseline:.2f}", "-", "-", "-", "-"))
    rows += [(name, f"{nats:.2f}", "-", "-", "-", "-") for name, nats in OTHERS]

    plot, glimpse_plot = results.output_path(FLAGS.plot), results.output_path(FLAGS.glimpse_plot)
    _write_canvases(models, plot)
    _write_glimpses(models[True], test[0], glimpse_plot)

    config = {**registry.get("draw").hparams, **hparams}
    sizes = (
        f"T = {config['num_glimpses']} glimpses, {config['hidden_units']}-unit encoder "
        f"and decoder LSTMs, {config['latent_dim']}-d z_t, read {config['read_size']}x"
        f"{config['read_size']} and write {config['write_size']}x{config['write_size']} "
        f"with attention"
    )
    if FLAGS.tiny:
        text = (
            f"`--tiny` smoke run, measures nothing: `draw` at test size ({sizes}) on "
            f"`{dataset}` ({len(train)} train / {len(test)} test images); the other rows "
            f"are the MNIST numbers.\n\n"
        )
    else:
        text = (
            f"Binarised MNIST, our 5k subset (4,000 train / 1,000 test images, static "
            f"binarisation at 0.5): `draw` with {sizes} (the paper's MNIST model, Table 3: "
            f"T = 64, 256-unit LSTMs, 100-d z_t, read 2x2, write 5x5); each model trained with "
            f"Adam (learning rate {FLAGS.learning_rate}) on batches of {FLAGS.batch_size} for at "
            f"most {FLAGS.steps} steps or {FLAGS.seconds:.0f} s (the steps column says "
            f"which came first). Test nats/image = L^x + L^z, the negative variational "
            f"bound (an upper bound on the negative log-likelihood), averaged over "
            f"{FLAGS.eval_draws} posterior draws per image. The paper trains the same "
            f"architecture on 60k images to convergence and reports the bound on the 10k "
            f"test set (stochastic binarisation), so its numbers mark the scale difference, "
            f"not a like-for-like comparison; the other rows are on our same 1,000 test "
            f"images. {results.machine()}.\n\n"
        )
    text += results.markdown_table(
        ("model", "test nats/image (<=)", "L^x", "L^z", "training", "paper (60k binarised MNIST)"),
        rows,
    )
    text += (
        f"\n\nSampling ({FLAGS.sample_batch} images, the `sample` loop over the "
        f"{config['num_glimpses']} glimpses; median of 3 calls after one warm-up call):\n\n"
    )
    text += results.markdown_table(("model", "graph s/call", "XLA s/call", "XLA speed-up"), timings)
    text += (
        f"\n\nCanvases: `{results.shown_path(plot)}`; read glimpses: "
        f"`{results.shown_path(glimpse_plot)}`. Whole script: "
        f"{time.perf_counter() - wall:.0f} s."
    )
    results.write_block("draw", text)


if __name__ == "__main__":
    app.run(main)
