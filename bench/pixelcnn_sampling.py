"""Gated PixelCNN sampling: the XLA-compiled loop against the plain graph loop.

Both run the same `sample` signature (a `tf.while_loop` over the pixels in
raster order) of the same model with the same seed, side by side in one run;
the table goes into docs/RESULTS.md.

    python -m bench.pixelcnn_sampling [--batch_sizes 1,16] [--repeats 3]
    python -m bench.pixelcnn_sampling --tiny   # the test-size model on 8x8 digits: a smoke run
"""

import numpy as np
import tensorflow as tf
from absl import app, flags

from bench import results
from tests.conformance import goldens
from tfgen import registry

FLAGS = flags.FLAGS
flags.DEFINE_list("batch_sizes", ["1", "16"], "Numbers of images sampled per call.")
flags.DEFINE_integer("repeats", 3, "Timed calls per configuration.")


def _sampler(model, jit_compile):
    signature = model.signatures(jit_compile=jit_compile)["sample"]
    return lambda labels: signature(
        label=labels, seed=tf.constant(1, tf.int64), temperature=tf.constant(1.0)
    )


def main(argv):
    del argv
    results.tiny_defaults(batch_sizes=["1", "2"], repeats=1)
    model = goldens.build("pixelcnn") if FLAGS.tiny else registry.build("pixelcnn")
    model(model.example_features())
    config = model.get_config()
    samplers = {"graph": _sampler(model, False), "XLA": _sampler(model, True)}
    rows = []
    for batch_size in map(int, FLAGS.batch_sizes):
        labels = tf.range(batch_size, dtype=tf.int32) % 10
        images = {mode: fn(labels)["image"].numpy() for mode, fn in samplers.items()}
        seconds = {
            mode: np.median(
                results.time_calls(lambda fn=fn, labels=labels: fn(labels), FLAGS.repeats)
            )
            for mode, fn in samplers.items()
        }
        same = np.array_equal(images["graph"], images["XLA"])
        rows.append(
            (
                batch_size,
                f"{seconds['graph']:.2f}",
                f"{seconds['XLA']:.2f}",
                f"{seconds['graph'] / seconds['XLA']:.1f}x",
                f"{batch_size / seconds['XLA']:.2f}",
                "yes" if same else "no",
            )
        )
    pixels = int(np.prod(config["image_shape"]))
    text = (
        f"PixelCNN sampling, {pixels} pixels per image, "
        f"{'test' if FLAGS.tiny else 'default'} hyper-parameters "
        f"({config['num_layers']} layers, {config['filters']} filters); {results.machine()}; "
        f"median of {FLAGS.repeats} calls after one warm-up call.\n\n"
    )
    text += results.markdown_table(
        ("batch", "graph s/call", "XLA s/call", "XLA speed-up", "XLA images/s", "same samples"),
        rows,
    )
    results.write_block("pixelcnn_sampling", text)


if __name__ == "__main__":
    app.run(main)
