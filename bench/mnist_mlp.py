"""The fully connected mnist networks that bench/dni.py and bench/dni_async.py train."""

import tensorflow as tf

from tfgen import data
from tfgen.algorithms.dni import decoupled_mlp


def mnist(split):
    """All of `split` as (images float `[N, 28, 28, 1]` in [0, 1], labels `[N]`)."""
    batch = next(iter(data.load("mnist", split, view="grey").batch(10_000)))
    return batch["image"].numpy().astype("float32") / 255.0, batch["label"].numpy()


def network(hidden_units, learning_rate, seed, dni_options=None):
    """A compiled `decoupled_mlp` with `dni_options`, or its plain backprop twin when None."""
    tf.keras.utils.set_random_seed(seed)
    model = decoupled_mlp(hidden_units, 10, **(dni_options or {}))
    if dni_options is None:  # Backprop: the same blocks, chained.
        model = tf.keras.Sequential([module.layers[0] for module in model.modules])
    model.compile(
        tf.keras.optimizers.Adam(learning_rate),
        tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model
