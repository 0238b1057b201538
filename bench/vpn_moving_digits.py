"""Video Pixel Network on `moving_digits`: test nats per predicted frame, and continuations.

The paper's protocol (arXiv 1610.00527, Sec. 5.1) at a smaller scale: clips of
20 frames, the first 10 given and the last 10 scored, grey-level targets under
a sigmoid cross-entropy. Trains, with the same hyper-parameters, Adam steps and
batch size,

- `vpn`: encoders + ConvLSTM + PixelCNN decoder (the Video Pixel Network);
- `vpn` with `temporal_context=False`: the same PixelCNN decoder on each frame
  alone (the frame-independent PixelCNN baseline);

then scores fixed test clips beside two reference numbers of the same clips:
an independent-pixel model (each position's mean grey level over training
clips) and the data's own entropy `sum H(y)`, the lower bound of any model's
cross-entropy. Writes `docs/vpn_continuations.png`: test clips, their true
future, the VPN's teacher-forced predictions of it (each value's probability
given the true values before it, which is what the table scores) and sampled
continuations of both models (the paper's Fig. 5), and times the sampling
loop. The table goes into docs/RESULTS.md (block
`vpn_moving_digits`) unless `--nowrite`.

    python -m bench.vpn_moving_digits [--steps 1500] [--frame_size 40]
    python -m bench.vpn_moving_digits --tiny   # test sizes, 2 steps: a smoke run
"""

import os
import time

import numpy as np
import tensorflow as tf
from absl import app, flags

from bench import results
from tests.conformance import goldens
from tfgen import data, registry
from tfgen.data.moving_digits import CONDITIONING_FRAMES
from tfgen.models.vpn import grey_entropy

FLAGS = flags.FLAGS
flags.DEFINE_integer("steps", 1500, "Training steps per model.")
flags.DEFINE_float("seconds", 2400.0, "Safety cap (s) on each model's training time.")
flags.DEFINE_integer("batch_size", 4, "Training batch size (clips).")
flags.DEFINE_float("learning_rate", 3e-3, "Adam learning rate.")
flags.DEFINE_integer("frame_size", 40, "Frame height and width (the paper: 64).")
flags.DEFINE_integer("num_frames", 20, "Frames per clip (the paper: 20).")
flags.DEFINE_integer("num_digits", 2, "Digits per clip (the paper: 2).")
flags.DEFINE_string(
    "hparams",
    "filters=16,lstm_filters=16,encoder_dilation_rates=[1,2,4,8],decoder_layers=2",
    "Hyper-parameter overrides of both models (the paper: 2c = 256, 8 encoder blocks, 12 "
    "decoder blocks).",
)
flags.DEFINE_integer("test_clips", 64, "Test clips scored.")
flags.DEFINE_integer("baseline_clips", 256, "Training clips of the independent-pixel model.")
flags.DEFINE_integer("num_samples", 2, "Test clips continued in the figure.")
flags.DEFINE_string(
    "plot",
    os.path.join(os.path.dirname(results.RESULTS), "vpn_continuations.png"),
    "The continuation figure.",
)

# arXiv 1610.00527, Table 1: Moving MNIST, 64x64 frames, nats per predicted frame.
PAPER = {
    "vpn": "VPN 87.6",
    "frame_independent": "-",
    "bound": "86.3",
    "baseline": "baseline without pixel dependencies 110.1",
}


def _setup():
    """(dataset options, conditioning frames, hyper-parameter overrides)."""
    overrides = registry.parse_hparams(FLAGS.hparams)
    if FLAGS.tiny:
        golden = goldens.GOLDENS["vpn"]
        options = dict(golden.dataset_options)
        return options, golden.hparams["conditioning_frames"], {**golden.hparams, **overrides}
    options = {
        "frame_size": FLAGS.frame_size,
        "num_frames": FLAGS.num_frames,
        "num_digits": FLAGS.num_digits,
    }
    return options, CONDITIONING_FRAMES, {**overrides, "conditioning_frames": CONDITIONING_FRAMES}


def _clips(split, count, seed, options):
    batch = next(iter(data.load("moving_digits", split, batch_size=count, seed=seed, **options)))
    return batch["video"].numpy()


def _train(temporal_context, options, hparams):
    tf.keras.utils.set_random_seed(0)
    model = registry.build(
        "vpn", {**hparams, "temporal_context": temporal_context}, "moving_digits", options
    )
    model.compile(tf.keras.optimizers.Adam(FLAGS.learning_rate))
    train = data.load("moving_digits", "train", batch_size=FLAGS.batch_size, seed=0, **options)
    limit = results.TimeLimit(FLAGS.seconds)
    model.fit(train, steps_per_epoch=FLAGS.steps, epochs=1, verbose=2, callbacks=[limit])
    return model, limit


def _nats_per_frame(model, clips, batch=8):
    signature = model.signatures()["log_prob"]
    parts = [
        signature(video=clips[i : i + batch])["nats_per_frame"] for i in range(0, len(clips), batch)
    ]
    return float(np.concatenate(parts).mean())


def _independent_pixels(train, test, given):
    """Cross-entropy per predicted frame of each position's mean training grey level."""
    mean = np.clip(train.mean(axis=(0, 1)), 1e-6, 1 - 1e-6)
    targets = test[:, given:]
    nats = -(targets * np.log(mean) + (1 - targets) * np.log(1 - mean))
    return float(nats.sum(axis=(2, 3, 4)).mean())


def _bound(test, given):
    return float(tf.reduce_mean(tf.reduce_sum(grey_entropy(test[:, given:]), [2, 3, 4])))


def _continue(model, clips, given):
    start = time.perf_counter()
    frames = model.sample(
        clips[:, :given], clips.shape[1] - given, seed=1, jit_compile=False
    ).numpy()
    return frames, time.perf_counter() - start


def _write_strips(clips, continuations, given, path):
    """Per clip: the given frames, then rows of the true future and each model's samples."""
    plt = results.pyplot()
    rows, labels = [], []
    for k, clip in enumerate(clips):
        rows.append(np.concatenate(list(clip[:given, ..., 0]), axis=1))
        labels.append(f"clip {k}: given frames 1-{given}")
        rows.append(np.concatenate(list(clip[given:, ..., 0]), axis=1))
        labels.append(f"clip {k}: true frames {given + 1}-{len(clip)}")
        for name, frames in continuations.items():
            rows.append(np.concatenate(list(frames[k, ..., 0]), axis=1))
            labels.append(f"clip {k}: {name}")
    width = max(row.shape[1] for row in rows)
    rows = [np.pad(row, [(0, 0), (0, width - row.shape[1])]) for row in rows]
    size = clips.shape[2]
    fig, ax = plt.subplots(figsize=(width / size * 0.9, len(rows) * 0.9 + 0.4))
    ax.imshow(np.concatenate(rows, axis=0), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_yticks([size * (r + 0.5) for r in range(len(rows))])
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_xticks([])
    fig.tight_layout()
    results.save_figure(fig, path)


def main(argv):
    del argv
    results.tiny_defaults(
        steps=2, batch_size=2, hparams="", test_clips=2, baseline_clips=8, num_samples=1
    )
    options, given, hparams = _setup()
    train_clips = _clips("train", FLAGS.baseline_clips, 2, options)
    test_clips = _clips("test", FLAGS.test_clips, 1, options)
    shown = test_clips[: FLAGS.num_samples]
    rows, continuations, timings = [], {}, []
    for temporal_context in (True, False):
        model, fit = _train(temporal_context, options, hparams)
        nats = _nats_per_frame(model, test_clips)
        key = "vpn" if temporal_context else "frame_independent"
        name = "`vpn`" if temporal_context else "`vpn`, `temporal_context=False` (PixelCNN alone)"
        rows.append((name, f"{nats:.2f}", f"{fit.steps} steps, {fit.elapsed:.0f} s", PAPER[key]))
        if temporal_context:
            # What the table scores: each value's probability given the true past and the true
            # pixels before it in its frame.
            continuations["VPN p(x = 1 | true values before it)"] = tf.sigmoid(
                model({"video": shown})[..., 0]
            ).numpy()
        frames, seconds = _continue(model, shown, given)
        continuations["VPN sample" if temporal_context else "frame-independent sample"] = frames
        timings.append((name, f"{frames.shape[1]} x {len(frames)}", f"{seconds:.1f}"))
    rows.append(
        (
            "independent pixels (mean grey level per position)",
            f"{_independent_pixels(train_clips, test_clips, given):.2f}",
            f"{FLAGS.baseline_clips} training clips",
            PAPER["baseline"],
        )
    )
    rows.append(
        (
            "data entropy sum H(y): the lower bound",
            f"{_bound(test_clips, given):.2f}",
            "-",
            PAPER["bound"],
        )
    )
    plot = results.output_path(FLAGS.plot)
    _write_strips(shown, continuations, given, plot)

    config = {**registry.get("vpn").hparams, **hparams}
    sizes = (
        f"2c = {config['filters']} channels, {len(config['encoder_dilation_rates'])} encoder "
        f"blocks (dilations {config['encoder_dilation_rates']}), a "
        f"{config['lstm_filters']}-channel ConvLSTM, {config['decoder_layers']} decoder blocks"
    )
    frame = options["frame_size"]
    if FLAGS.tiny:
        text = f"`--tiny` smoke run, measures nothing: `vpn` at test size ({sizes}).\n\n"
    else:
        text = (
            f"`moving_digits`: {options['num_digits']} `mnist` digits in {frame}x{frame} frames "
            f"(the paper: 64x64), {options['num_frames']} frames per clip, {given} given and "
            f"{options['num_frames'] - given} scored; test nats per predicted frame on "
            f"{FLAGS.test_clips} test clips (digits of the `mnist` test split). Both models: "
            f"{sizes} (the paper: 2c = 256, 8 encoder and 12 decoder blocks), trained with Adam "
            f"(learning rate {FLAGS.learning_rate}) on batches of {FLAGS.batch_size} clips for "
            f"{FLAGS.steps} steps. The paper's column is at 64x64 and 60k digits, so only the "
            f"gaps between rows compare, not the numbers. {results.machine()}.\n\n"
        )
    text += results.markdown_table(
        ("model", "test nats/frame", "training", "paper (Moving MNIST 64x64)"), rows
    )
    text += "\n\nSampling the continuations of the figure (plain graph loop, batch of clips):\n\n"
    text += results.markdown_table(("model", "frames x clips", "seconds"), timings)
    text += f"\n\n![VPN continuations]({results.shown_path(plot)})\n"
    results.write_block("vpn_moving_digits", text)


if __name__ == "__main__":
    app.run(main)
