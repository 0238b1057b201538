"""Shared by the recurrent-core benches (ACT, Grid LSTM, Associative LSTM, SnAp, DNI).

Each bench trains `SequenceTaskModel`s from `tfgen.registry` on `tfgen.data`
tasks with `train`, which scores one fixed batch of test examples along the
way (a learning curve); `matched_units` sizes a baseline to the parameter
count of the model it is compared with; `ngram_bits_per_char` gives the
unigram and bigram baselines of character modelling; `length_curriculum`
trains a sequence trainer on a task whose length grows as it is learnt.
"""

import time

import numpy as np
import tensorflow as tf

from bench import results
from tfgen import data, registry


class TestCurve(tf.keras.callbacks.Callback):
    """Calls `score()` every `every` steps and at the end: `curve` maps steps to its values."""

    def __init__(self, every, score):
        super().__init__()
        self.every, self.score, self.curve, self.steps = every, score, {}, 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.every and self.steps % self.every == 0:
            self.curve[self.steps] = self.score()

    def on_train_end(self, logs=None):
        if self.steps not in self.curve:
            self.curve[self.steps] = self.score()


def test_batch(dataset, options, batch_size):
    """One fixed batch of `batch_size` test examples of `dataset`."""
    return next(iter(data.load(dataset, "test", batch_size=batch_size, **options)))


def evaluate(compute_losses, batch):
    """The metrics (floats) of `compute_losses(batch)`, averaged over the sequences."""
    _, metrics = compute_losses(batch)
    return {name: float(tf.reduce_mean(value)) for name, value in metrics.items()}


def build(name, hparams, dataset, options):
    tf.keras.utils.set_random_seed(0)
    return registry.build(name, hparams, dataset, options)


def train(
    name,
    hparams,
    dataset,
    options,
    *,
    steps,
    seconds,
    batch_size,
    learning_rate,
    test,
    every=0,
    jit_compile=False,
):
    """Trains model `name` on `dataset` for `steps` batches or `seconds`, whichever comes first.

    Args:
      name, hparams, dataset, options: as `tfgen.registry.build`.
      steps, seconds: the caps (steps, wall-clock seconds of training).
      batch_size, learning_rate: Adam's batches and step size.
      test: a fixed batch of test examples, scored every `every` steps (0:
        only at the end).
      jit_compile: train and score with XLA.

    Returns:
      (model, `results.TimeLimit` with the steps taken and the time, curve
      {step: metrics dict on `test`}).
    """
    model = build(name, hparams, dataset, options)
    model.compile(tf.keras.optimizers.Adam(learning_rate, clipnorm=1.0), jit_compile=jit_compile)
    train_data = data.load(dataset, "train", batch_size=batch_size, repeat=True, seed=0, **options)
    limit = results.TimeLimit(seconds)
    score = tf.function(model.compute_losses, jit_compile=jit_compile)
    curve = TestCurve(every, lambda: evaluate(score, test))
    model.fit(train_data, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[limit, curve])
    return model, limit, curve.curve


def growing_stream(dataset, batch_size, seed, **options):
    """`stream(length, level)` for `length_curriculum`: `dataset` batches with `max_len=length`."""

    def stream(length, level):
        return iter(
            data.load(
                dataset,
                "train",
                batch_size=batch_size,
                seed=seed * 1000 + level,
                max_len=length,
                **options,
            )
        )

    return stream


def length_curriculum(trainer, stream, batches, patience, threshold):
    """Trains `trainer` for `batches` batches on lengths that grow as they are learnt.

    The length L starts at 1 and grows by one once the mean loss of the last
    `patience` batches at this length is under `threshold` bits per target
    bit (the protocol of 2006.07232 Sec. 5 and 1608.05343 Sec. 3.1).

    Args:
      trainer: has `train_on_batch(inputs, targets, mask)` -> (summed loss in
        nats, number of target steps), as the trainers of `tfgen.algorithms`.
      stream: `stream(length, level)` -> an iterator of batches (dicts of
        `inputs`, `targets` `[batch, T, ...]` and `mask` `[batch, T]`) of
        sequences up to `length`; `level` counts the lengths so far (a seed).
      batches, patience, threshold: as above.

    Returns:
      (int array `[batches, 2]` of (data steps seen, L) after each batch,
      seconds of training).
    """
    length, level, batch_stream = 1, 0, stream(1, 0)
    recent, seen, curve = [], 0, []
    start = time.perf_counter()
    for _ in range(batches):
        batch = next(batch_stream)
        total, count = trainer.train_on_batch(batch["inputs"], batch["targets"], batch["mask"])
        bits_per_step = int(np.prod(batch["targets"].shape[2:]))
        recent.append(float(total / (count * bits_per_step)) / np.log(2.0))
        seen += int(np.prod(batch["mask"].shape))
        # 2006.07232 Sec. 5, 1608.05343 Sec. 3.1: L grows once it is learnt well enough.
        if len(recent) >= patience and np.mean(recent[-patience:]) < threshold:
            length, level, recent = length + 1, level + 1, []
            batch_stream = stream(length, level)
        curve.append((seen, length))
    return np.array(curve), time.perf_counter() - start


def param_count(model):
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))


def matched_units(name, hparams, dataset, options, target):
    """The `units` of model `name` (other `hparams` fixed) giving the count nearest `target`.

    Bisects on `units`: the parameter count grows with it.
    """

    def count(units):
        return param_count(build(name, {**hparams, "units": units}, dataset, options))

    low, high = 1, 2
    while count(high) < target:
        low, high = high, 2 * high
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if count(middle) < target else (low, middle)
    return min((low, high), key=lambda units: abs(count(units) - target))


def ngram_bits_per_char(train_bytes, tokens):
    """(unigram, bigram) bits per character of `tokens` [B, T] under counts of `train_bytes`.

    Scores each window's characters after its first, as the character models
    are scored: the unigram on its own, the bigram given the character before.
    Add-one (Laplace) smoothing over the 256 byte values.
    """
    train = np.frombuffer(train_bytes, np.uint8).astype(np.int64)
    tokens = np.asarray(tokens, np.int64)
    unigram = np.bincount(train, minlength=256) + 1.0
    unigram_bits = -np.mean(np.log2(unigram[tokens[:, 1:]] / unigram.sum()))
    pairs = np.bincount(train[:-1] * 256 + train[1:], minlength=256 * 256).reshape(256, 256) + 1.0
    bigram = pairs / pairs.sum(axis=1, keepdims=True)
    bigram_bits = -np.mean(np.log2(bigram[tokens[:, :-1], tokens[:, 1:]]))
    return float(unigram_bits), float(bigram_bits)


def trained(limit):
    """The "steps / s" cell of a training run."""
    return f"{limit.steps} / {limit.elapsed:.0f}"


def percent(value):
    return f"{100 * value:.1f}%"


def plot_curves(path, panels, title):
    """Learning curves: `panels` is [(axis title, y label, {label: {step: value}})]."""
    plt = results.pyplot()

    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.4), squeeze=False)
    for ax, (panel_title, ylabel, curves) in zip(axes[0], panels):
        for label, curve in curves.items():
            steps = sorted(curve)
            ax.plot(steps, [curve[s] for s in steps], marker=".", label=label)
        ax.set_title(panel_title, fontsize=9)
        ax.set_xlabel("training step")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    results.save_figure(fig, path)
