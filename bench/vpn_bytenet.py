"""Speed of ByteNet (arXiv 1610.10099) against sequence length, and of the VPN's sampling loop.

Side by side in one run, beside this machine's limit measured in the same run
(the FLOP/s of a 2048 x 2048 fp32 matrix product):

1. `bytenet_lm` training throughput at sequence lengths `--lengths` with the
   same number of bytes per batch: bytes/s, and the FLOP/s reached, counted
   as 6 FLOPs per weight per byte (forward 2, backward 4; every weight but
   the embedding's is used once per byte), as a fraction of the limit.
2. `bytenet_lm` generation time against length, with the per-layer queues
   (one step per block per byte) and naively (the whole network on the
   prefix at every byte); a least-squares fit of log time on log length gives
   the exponent p of `time ~ length^p`: the paper's linear-time claim is
   p = 1 for the queues (p = 2 for the naive loop, whose prefix grows).
3. `vpn` sampling of one frame, plain graph against XLA, at the size of
   `bench/vpn_moving_digits.py`, and the cost of one pixel step when the
   decoder runs on the strip of rows the pixel depends on against the whole
   frame.

The tables go into docs/RESULTS.md (block `vpn_bytenet`) unless `--nowrite`.

    python -m bench.vpn_bytenet [--lengths 128,256,512,1024]
    python -m bench.vpn_bytenet --tiny   # test sizes: a smoke run
"""

import time

import numpy as np
import tensorflow as tf
from absl import app, flags

from bench import limits, results
from tests.conformance import goldens
from tfgen import registry

FLAGS = flags.FLAGS
flags.DEFINE_list("lengths", ["128", "256", "512", "1024"], "Sequence lengths (bytes).")
flags.DEFINE_list("naive_lengths", ["64", "128", "256", "512"], "Lengths of the naive loop.")
flags.DEFINE_integer("batch_bytes", 4096, "Bytes per training batch (batch = this / length).")
flags.DEFINE_integer("train_steps", 10, "Timed training steps per length.")
flags.DEFINE_string(
    "bytenet_hparams",
    "hidden_units=128,num_sets=2",
    "`bytenet_lm` overrides (the paper's enwik8 model: hidden_units=512, num_sets=6).",
)
flags.DEFINE_integer("frame_size", 40, "VPN frame size.")
flags.DEFINE_string(
    "vpn_hparams",
    "filters=16,lstm_filters=16,encoder_dilation_rates=[1,2,4,8],decoder_layers=2",
    "`vpn` overrides (those of bench/vpn_moving_digits.py).",
)
flags.DEFINE_list("vpn_batches", ["1", "4"], "Batch sizes of the VPN sampling comparison.")
flags.DEFINE_integer("repeats", 3, "Timed calls per measurement (the median is shown).")


def _median_seconds(fn):
    return float(np.median(results.time_calls(fn, FLAGS.repeats)))


def _bytenet(length):
    overrides = {**registry.parse_hparams(FLAGS.bytenet_hparams), "seq_len": length}
    if FLAGS.tiny:
        overrides = {**goldens.GOLDENS["bytenet_lm"].hparams, "seq_len": length}
    return registry.build("bytenet_lm", overrides)


def _weights_per_byte(model):
    """Trainable weights used once per byte: all but the embedding table."""
    embedding = sum(int(np.prod(w.shape)) for w in model.target_embedding.trainable_weights)
    return model.count_params() - embedding


def _training_rows(limit):
    rows = []
    for length in map(int, FLAGS.lengths):
        model = _bytenet(length)
        batch = max(1, FLAGS.batch_bytes // length)
        features = model.example_features(batch)
        model.compile(tf.keras.optimizers.Adam(1e-3))
        dataset = tf.data.Dataset.from_tensors(features).repeat()
        model.fit(dataset, steps_per_epoch=2, epochs=1, verbose=0)  # trace and warm up
        start = time.perf_counter()
        model.fit(dataset, steps_per_epoch=FLAGS.train_steps, epochs=1, verbose=0)
        seconds = (time.perf_counter() - start) / FLAGS.train_steps
        bytes_per_second = batch * length / seconds
        flops = 6.0 * _weights_per_byte(model) * bytes_per_second
        rows.append(
            (
                length,
                batch,
                f"{bytes_per_second:,.0f}",
                f"{flops / 1e9:.1f}",
                f"{100 * flops / limit:.1f}%",
            )
        )
    return rows, model


def _exponent(lengths, seconds):
    """p of the least-squares fit log seconds = p log length + c."""
    return float(np.polyfit(np.log(lengths), np.log(seconds), 1)[0])


def _generation_seconds(model, length, method, jit_compile):
    return _median_seconds(
        lambda: model.sample(1, length, seed=1, jit_compile=jit_compile, method=method).numpy()
    )


def _frame_seconds(model, given, jit_compile):
    return _median_seconds(lambda: model.sample(given, 1, seed=1, jit_compile=jit_compile).numpy())


def _generation_rows(model):
    timings = {}
    for method, lengths, jit_compile in (
        ("fast", FLAGS.lengths, False),
        ("fast", FLAGS.lengths, True),
        ("naive", FLAGS.naive_lengths, False),
    ):
        lengths = [int(n) for n in lengths]
        seconds = [_generation_seconds(model, n, method, jit_compile) for n in lengths]
        timings[method, jit_compile] = (lengths, seconds)
    rows = []
    for (method, jit_compile), (lengths, seconds) in timings.items():
        name = "queues" if method == "fast" else "naive (whole prefix per byte)"
        name += ", XLA" if jit_compile else ", graph"
        per_byte = ", ".join(f"{n}: {1e3 * s / n:.2f}" for n, s in zip(lengths, seconds))
        rows.append((name, per_byte, f"{_exponent(lengths, seconds):.2f}"))
    return rows


def _vpn_rows():
    options = {"frame_size": FLAGS.frame_size, "num_frames": 3, "num_digits": 2}
    overrides = {**registry.parse_hparams(FLAGS.vpn_hparams), "conditioning_frames": 1}
    if FLAGS.tiny:  # The golden model on 8x8 frames: speed needs no data.
        overrides = {**goldens.GOLDENS["vpn"].hparams, "frame_shape": (8, 8, 1)}
    model = registry.build("vpn", overrides, "moving_digits", options)
    rows = []
    for batch in map(int, FLAGS.vpn_batches):
        given = model.example_features(batch)["video"][:, :1]
        graph, xla = (_frame_seconds(model, given, jit) for jit in (False, True))
        rows.append((batch, f"{graph:.2f}", f"{xla:.2f}", f"{graph / xla:.2f}x"))
    return model, rows


def _strip_row(model):
    """Seconds of one pixel step's decoder: the strip of rows against the whole frame."""
    video = model.example_features(1)["video"]
    context = model.contexts(video)
    terms = model.context_terms(None if context is None else context[:, 0])
    frame, row = video[:, 1], model.frame_shape[0] - 1
    strip = tf.function(lambda: model.row_logits(frame, terms, row))
    whole = tf.function(lambda: model._decode(frame, terms=terms)[:, row])
    strip_seconds = _median_seconds(lambda: strip().numpy())
    whole_seconds = _median_seconds(lambda: whole().numpy())
    rows = min(model.frame_shape[0], model.receptive_rows + 1)
    return (
        f"{rows} of {model.frame_shape[0]}",
        f"{1e3 * strip_seconds:.2f}",
        f"{1e3 * whole_seconds:.2f}",
        f"{whole_seconds / strip_seconds:.2f}x",
    )


def main(argv):
    del argv
    results.tiny_defaults(
        lengths=["8", "16"],
        naive_lengths=["8", "16"],
        batch_bytes=32,
        train_steps=1,
        vpn_batches=["1"],
        repeats=1,
    )
    limit = limits.matmul_flops_per_second()
    training, model = _training_rows(limit)
    generation = _generation_rows(model)
    vpn, vpn_rows = _vpn_rows()
    strip = _strip_row(vpn)

    config = model.get_config()
    text = (
        "`tfgen` at `--tiny` test sizes: a smoke run, measures nothing.\n\n"
        if FLAGS.tiny
        else (
            f"`bytenet_lm` with d = {config['hidden_units']}, {config['num_sets']} sets of "
            f"dilations {config['dilation_rates']} (the paper's enwik8 model: d = 512, 6 sets; "
            f"1.31 bits/char on enwik8, 100M bytes, against our `text` results in block "
            f"`bytenet`), and `vpn` at the size of block `vpn_moving_digits` "
            f"({FLAGS.frame_size}x{FLAGS.frame_size} frames; the paper: 64x64, 87.6 nats/frame "
            f"on Moving MNIST). This machine's limit, measured in the same run: "
            f"{limit / 1e9:.1f} GFLOP/s for a 2048 x 2048 fp32 matrix product. "
            f"{results.machine()}.\n\n"
        )
    )
    text += "ByteNet training, the same bytes per batch at every length:\n\n"
    text += results.markdown_table(
        ("length", "batch", "bytes/s", "GFLOP/s (6 per weight per byte)", "of the fp32 limit"),
        training,
    )
    text += (
        "\n\nByteNet generation, one sequence: ms per generated byte at each length, and the "
        "exponent p of a fit time ~ length^p (1: linear time):\n\n"
    )
    text += results.markdown_table(("loop", "length: ms/byte", "p"), generation)
    text += (
        "\n\nVPN: sampling one frame (all its pixels and channels), plain graph against XLA:\n\n"
    )
    text += results.markdown_table(
        ("batch", "graph s/frame", "XLA s/frame", "XLA speed-up"), vpn_rows
    )
    text += "\n\nVPN: the decoder of one pixel step, on the strip of rows it depends on:\n\n"
    text += results.markdown_table(
        ("rows decoded", "strip ms", "whole frame ms", "strip speed-up"), [strip]
    )
    results.write_block("vpn_bytenet", text + "\n")


if __name__ == "__main__":
    app.run(main)
