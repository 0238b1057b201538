"""Short training runs of the sequence-task models (`tfgen.models.sequence_task`) for tests."""

import tensorflow as tf

from tfgen import data


def fit_and_evaluate(model, dataset, options, steps, batch_size=32, learning_rate=1e-2):
    """Fits `model` for `steps` batches of `dataset` (seeded), returns its test metrics.

    The metrics are those of `model.evaluate` on one batch of 256 test examples.
    """
    tf.keras.utils.set_random_seed(0)
    model.compile(tf.keras.optimizers.Adam(learning_rate))
    train = data.load(dataset, "train", batch_size=batch_size, seed=0, **options).take(steps)
    model.fit(train, epochs=1, verbose=0)
    test = data.load(dataset, "test", batch_size=256, **options).take(1)
    return model.evaluate(test, verbose=0, return_dict=True)
