"""Gated PixelCNN beside TensorFlow Probability's `tfd.PixelCNN`: training steps and sampling.

One run, side by side, on this machine:

- sampling: our cached ("fast", arXiv 1704.06001) sampler as a plain graph loop and as an
  XLA-compiled loop, our naive sampler (graph), and `tfd.PixelCNN.sample`, in seconds per image
  at each batch size, with the same seed for ours (the three must draw the same images);
- training: one compiled (`tf.function`) Adam step of each model on a batch of binarised images;
- this machine's limits (`bench.limits`), and the FLOP/s our cached sampler reaches at batch 1
  as a fraction of the batch-1 vector-matrix limit.

The models are matched at the same image size (28x28, 1 channel, class-conditional): our
default Gated PixelCNN has 8 gated layers of 32 filters; TFP's PixelCNN++ gets 8 gated resnet
blocks of 32 filters per stack (`num_resnet=4` on the way down and 4 on the way up,
`num_hierarchies=1`, no down-sampling), the paper's `receptive_field_dims=(3, 3)`, no dropout,
no weight normalisation, and one logistic per pixel on levels {0, 1} (`high=1`; a 2-level
quantised logistic can take any Bernoulli). The receptive fields are measured by gradients.

TFP's sampler runs its whole network once per pixel, so it is timed on `--tfp_repeats` calls
(default 1) after tracing, not after a warm-up call.

    python -m bench.pixelcnn_sampling [--batch_sizes 1,16] [--repeats 3] [--tfp_repeats 1]
    python -m bench.pixelcnn_sampling --tiny   # test-size models on 8x8 images: a smoke run
"""

import time

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from absl import app, flags

from bench import limits, results
from tests.conformance import goldens
from tfgen import registry

FLAGS = flags.FLAGS
flags.DEFINE_list("batch_sizes", ["1", "16"], "Numbers of images sampled per call.")
flags.DEFINE_integer("repeats", 3, "Timed calls per configuration of our samplers.")
flags.DEFINE_integer("tfp_repeats", 1, "Timed calls of TFP's sampler (and of our naive one).")
flags.DEFINE_integer("train_batch", 16, "Batch size of the timed training steps.")
flags.DEFINE_integer("train_steps", 10, "Timed training steps per model.")

NUM_CLASSES = 10
FIELD_SHAPE = (64, 64, 1)  # Where the receptive fields are measured.


def _ours():
    model = goldens.build("pixelcnn") if FLAGS.tiny else registry.build("pixelcnn")
    model.build_example()
    return model


def _tfp_model(config, image_shape=None):
    """TFP's PixelCNN++ matched to ours (see the module docstring), for another size if given."""
    return tfp.distributions.PixelCNN(
        image_shape=tuple(image_shape or config["image_shape"]),
        conditional_shape=(NUM_CLASSES,),
        num_resnet=max(1, config["num_layers"] // 2),
        num_hierarchies=1,
        num_filters=config["filters"],
        num_logistic_mix=1,
        receptive_field_dims=(3, 3),
        dropout_p=0.0,
        use_weight_norm=False,
        high=1,
        low=0,
    )


def _images(config, batch, seed=0):
    shape = [batch, *config["image_shape"]]
    return tf.random.stateless_uniform(shape, [seed, 1], 0, 2, tf.int32)


def _labels(batch):
    return tf.range(batch, dtype=tf.int32) % NUM_CLASSES


def _receptive_field(network):
    """Rows above, columns left and right that output (63, 32) of a 64x64 input depends on.

    Measured by gradient, on an image large enough that no border cuts the field.
    """
    x = tf.random.stateless_uniform([1, *FIELD_SHAPE], [3, 4], -1.0, 1.0)
    i, j = FIELD_SHAPE[0] - 1, FIELD_SHAPE[1] // 2
    with tf.GradientTape() as tape:
        tape.watch(x)
        outputs = tf.concat([tf.reshape(o[0, i, j], [-1]) for o in network(x)], axis=0)
        weights = tf.random.stateless_normal(outputs.shape, [5, 6])
        target = tf.reduce_sum(outputs * weights)
    rows, cols = np.nonzero(np.any(tape.gradient(target, x)[0].numpy() != 0, axis=-1))
    return f"{i - rows.min()} / {j - cols.min()} / {cols.max() - j}"


def _train_step(variables, loss_fn):
    """One compiled (graph) Adam step of `loss_fn(images, labels)` over `variables`."""
    optimizer = tf.keras.optimizers.Adam(1e-3)

    @tf.function
    def step(images, labels):
        with tf.GradientTape() as tape:
            loss = loss_fn(images, labels)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    return step


def _seconds_per_step(step, config):
    images, labels = _images(config, FLAGS.train_batch), _labels(FLAGS.train_batch)
    step(images, labels).numpy()
    start = time.perf_counter()
    for _ in range(FLAGS.train_steps):
        loss = step(images, labels)
    loss.numpy()
    return (time.perf_counter() - start) / FLAGS.train_steps


def _training_rows(ours, theirs, config):
    def our_loss(images, labels):
        return -tf.reduce_mean(ours.log_prob({"image": images, "label": labels}))

    def their_loss(images, labels):
        one_hot = tf.one_hot(labels, NUM_CLASSES)
        log_prob = theirs.log_prob(
            tf.cast(images, tf.float32), conditional_input=one_hot, training=True
        )
        return -tf.reduce_mean(log_prob)

    seconds = {
        "ours": _seconds_per_step(_train_step(ours.trainable_variables, our_loss), config),
        "TFP": _seconds_per_step(
            _train_step(theirs.network.trainable_variables, their_loss), config
        ),
    }
    one_hot = tf.one_hot([3], NUM_CLASSES)
    wide = _tfp_model(config, FIELD_SHAPE)
    fields = {
        "ours": _receptive_field(lambda x: [ours.network(x, one_hot)]),
        "TFP": _receptive_field(lambda x: wide.network([x, one_hot])),
    }
    layers = f"{config['num_layers']} gated layers"
    their_blocks = f"{2 * max(1, config['num_layers'] // 2)} gated resnet blocks"
    return [
        (
            "ours: Gated PixelCNN, softmax",
            f"{ours.count_params():,}",
            f"{layers} x {config['filters']}",
            fields["ours"],
            f"{seconds['ours'] * 1e3:.1f}",
            "1.0x",
        ),
        (
            "TFP: tfd.PixelCNN (PixelCNN++), 1 logistic",
            f"{theirs.network.count_params():,}",
            f"{their_blocks} x {config['filters']}",
            fields["TFP"],
            f"{seconds['TFP'] * 1e3:.1f}",
            f"{seconds['TFP'] / seconds['ours']:.1f}x",
        ),
    ]


def _our_sampler(model, method, jit_compile):
    def sample(labels):
        return model.sample(labels=labels, seed=1, method=method, jit_compile=jit_compile).numpy()

    return sample


def _tfp_sampler(theirs, batch):
    function = tf.function(lambda one_hot: theirs.sample(batch, seed=1, conditional_input=one_hot))
    one_hot = tf.one_hot(_labels(batch), NUM_CLASSES)
    function.get_concrete_function(one_hot)  # Traced, not run: one call takes minutes.
    return lambda labels: function(one_hot).numpy()


def _median_seconds(fn, labels, repeats):
    """Median seconds of `repeats` calls; the caller has already warmed `fn` up (or traced it)."""
    return float(np.median(results.time_calls(lambda: fn(labels), repeats, warmup=0)))


def _sampling_row(ours, theirs, batch):
    labels = _labels(batch)
    samplers = {
        "fast graph": _our_sampler(ours, "fast", False),
        "fast XLA": _our_sampler(ours, "fast", True),
        "naive graph": _our_sampler(ours, "naive", False),
    }
    images = {name: fn(labels) for name, fn in samplers.items()}  # Also the warm-up calls.
    same = all(np.array_equal(images["fast XLA"], other) for other in images.values())
    seconds = {
        name: _median_seconds(fn, labels, FLAGS.tfp_repeats if "naive" in name else FLAGS.repeats)
        for name, fn in samplers.items()
    }
    seconds["TFP"] = _median_seconds(_tfp_sampler(theirs, batch), labels, FLAGS.tfp_repeats)
    per_image = {name: s / batch for name, s in seconds.items()}
    fast = min(per_image["fast graph"], per_image["fast XLA"])
    row = (
        batch,
        *(f"{per_image[name]:.4f}" for name in ("fast graph", "fast XLA", "naive graph", "TFP")),
        f"{per_image['fast graph'] / per_image['fast XLA']:.1f}x",
        f"{per_image['naive graph'] / fast:.0f}x",
        f"{per_image['TFP'] / fast:.0f}x",
        "yes" if same else "no",
    )
    return row, per_image


def macs_per_image(config):
    """Multiply-adds of one forward pass (what the cached sampler computes), from layer shapes.

    Per pixel and block: the vertical (k//2 + 1) x k convolution and the 1x1 link (2p -> 2p),
    the horizontal 1 x taps convolution and its 1x1 output (p -> p); then the output layers
    (p -> output_filters -> num_levels). The per-image conditioning projections are left out.
    """
    height, width, channels = config["image_shape"]
    p, levels = config["filters"], config["num_levels"]
    macs = p * config["output_filters"] + config["output_filters"] * levels * channels
    for index in range(config["num_layers"]):
        k = config["first_kernel_size"] if index == 0 else config["kernel_size"]
        c = channels if index == 0 else p
        taps = k // 2 + (0 if index == 0 else 1)  # Mask A in the first layer.
        macs += (k // 2 + 1) * k * c * 2 * p + 2 * p * 2 * p + taps * c * 2 * p + p * p
    return height * width * macs


def main(argv):
    del argv
    results.tiny_defaults(batch_sizes=["1", "2"], repeats=1, train_batch=2, train_steps=1)
    ours = _ours()
    config = ours.get_config()
    theirs = _tfp_model(config)
    training = _training_rows(ours, theirs, config)
    sampling, per_image = [], {}
    for batch in map(int, FLAGS.batch_sizes):
        row, per_image[batch] = _sampling_row(ours, theirs, batch)
        sampling.append(row)
    machine = limits.measure(tiny=FLAGS.tiny)
    flops = 2 * macs_per_image(config)
    pixels = int(np.prod(config["image_shape"]))
    text = (
        f"PixelCNN beside TFP's `tfd.PixelCNN`, {pixels} pixels per image "
        f"({'x'.join(map(str, config['image_shape']))}), class-conditional, "
        f"{'test' if FLAGS.tiny else 'default'} hyper-parameters "
        f"({config['num_layers']} layers, {config['filters']} filters); {results.machine()}.\n\n"
        f"Sampling, seconds per image: ours median of {FLAGS.repeats} calls after a warm-up call "
        f"(naive: {FLAGS.tfp_repeats}); TFP {FLAGS.tfp_repeats} call(s) after tracing only. "
        "`same samples`: our fast graph, fast XLA and naive samplers draw the same images for "
        "the same seed.\n\n"
    )
    text += results.markdown_table(
        (
            "batch",
            "fast graph s/image",
            "fast XLA s/image",
            "naive graph s/image",
            "TFP s/image",
            "fast XLA vs graph",
            "fast vs naive",
            "fast vs TFP",
            "same samples",
        ),
        sampling,
    )
    text += (
        f"\n\nTraining, one compiled (`tf.function`) Adam step on a batch of "
        f"{FLAGS.train_batch}, mean of {FLAGS.train_steps} steps after one; receptive field of "
        "a pixel, by gradient on a 64x64 input (no border in the way): rows above / columns left / "
        "columns right.\n\n"
    )
    text += results.markdown_table(
        ("model", "parameters", "depth x width", "receptive field", "ms/step", "vs ours"),
        training,
    )
    if 1 in per_image:
        best = min(per_image[1]["fast graph"], per_image[1]["fast XLA"])
        achieved = flops / best
        text += (
            f"\n\nOur cached sampler at batch 1: {flops / 1e6:.1f} MFLOP per image (one forward "
            f"pass, {flops / 2 / pixels:,.0f} multiply-adds per pixel, counted from the layer "
            f"shapes) in {best * 1e3:.1f} ms: {achieved / 1e9:.2f} GFLOP/s, "
            f"{achieved / machine['fp32_matvec']:.0%} of the batch-1 vector-matrix limit "
            f"({achieved / machine['fp32_matmul']:.0%} of the fp32 matrix-product peak; the "
            "vertical stack's per-row products have one row per image column, not one)."
        )
    text += "\n\n" + limits.limits_table(machine)
    results.write_block("pixelcnn_sampling", text)


if __name__ == "__main__":
    app.run(main)
