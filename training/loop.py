"""The training loop: Keras `fit` under a strategy, checkpoints, resume, eval.

`train` is the library entry point the CLI (`python -m training`) and the demo
call. A run lives in `model_dir`, laid out by `tfgen.run_dir.RunDir`:

    model_dir/config.json     model name, dataset, dataset options, hparams, batch size, seed
    model_dir/checkpoints/    `tf.train.CheckpointManager` (model, optimizer, step, config)
    model_dir/logs/           TensorBoard event files

Resuming: a run started again with the same flags restores the latest
checkpoint (weights, optimizer slots and `optimizer.iterations`) and continues
from that step, feeding the data stream from the same position (the stream is
a deterministic function of `seed`), so a run killed at any point and
restarted ends at exactly `steps` with nothing from its checkpoints lost.
A run restarted with another configuration, batch size or seed is refused
(it would not continue the same stream), a checkpoint whose files are damaged
is skipped for the newest whole one, and a loss or weights that are not finite
stop the run before they are checkpointed.
"""

import math
import shutil

import numpy as np
import tensorflow as tf

from tfgen import hparams as hparams_lib
from tfgen import run_dir
from tfgen.run_dir import RunDir
from training import strategies


def check_finite(manager, step, loss, weights=()):
    """Raises before a non-finite loss (or weights) of `step` can be checkpointed.

    Raises:
      ValueError: naming the step, the loss and the last good checkpoint, which is kept.
    """
    bad = [w.name for w in weights if w.dtype.is_floating and not np.isfinite(w.numpy()).all()]
    if (loss is None or np.isfinite(loss)) and not bad:
        return
    got = f"loss {loss}" + (f" and non-finite weights (first: {bad[0]})" if bad else "")
    raise ValueError(
        f"Expected a finite loss and weights at step {step}, got {got}: training stopped "
        f"without checkpointing step {step}; the last good checkpoint, "
        f"{manager.latest_checkpoint}, is kept. Lower --learning_rate, or check the data."
    )


class _Checkpointer(tf.keras.callbacks.Callback):
    """Saves every `every` steps and at `steps`; stops training at `steps`.

    A non-finite loss stops training with a `ValueError` (`check_finite`),
    before the step is checkpointed.
    """

    def __init__(self, manager, steps, every):
        super().__init__()
        self.manager, self.steps, self.every = manager, steps, every

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        loss = (logs or {}).get("loss")
        loss = None if loss is None else float(loss)
        check_finite(self.manager, step, loss)
        if step % self.every == 0 or step >= self.steps:
            check_finite(self.manager, step, loss, self.model.weights)
            self.manager.save(checkpoint_number=step)
        if step >= self.steps:
            self.model.stop_training = True


def train(
    model_name,
    dataset=None,
    *,
    steps=1000,
    batch_size=32,
    model_dir,
    hparams=None,
    dataset_options=None,
    learning_rate=1e-3,
    strategy="default",
    jit_compile=False,
    checkpoint_every=100,
    seed=0,
    eval_batches=-1,
    deterministic=False,
    final_weights=None,
    verbose=1,
):
    """Trains registered model `model_name` with Keras `fit`, resuming if possible.

    Args:
      model_name: a name in `tfgen.registry.names()`.
      dataset: a `tfgen.data` dataset name; default: the model's dataset.
      steps: total number of optimizer steps of the run (including any
        steps done before a restart).
      batch_size: global batch size.
      model_dir: where config, checkpoints and TensorBoard logs go.
      hparams: overrides of the model's hyper-parameters, a dict or a
        `"key=value,..."` string.
      dataset_options: options for `tfgen.data.load`, a dict or a string.
      learning_rate: Adam learning rate.
      strategy: a name in `training.strategies.STRATEGIES` or a
        `tf.distribute.Strategy`.
      jit_compile: passed to `model.compile`.
      checkpoint_every: steps between checkpoints (and Keras "epochs").
      seed: seeds initialisation and the data order.
      eval_batches: test batches to evaluate at the end; negative means the
        whole test split, 0 skips evaluation.
      deterministic: call `tf.config.experimental.enable_op_determinism()`.
      final_weights: if set, an `.npz` path where this process writes its final
        weights (used to compare workers).
      verbose: Keras `fit` verbosity (1: progress bar).

    Returns:
      `(model, history)`: the trained model and the Keras `History` of this
      invocation; `history.test_metrics` holds the test metrics (a dict, empty
      when evaluation is skipped).
    """
    from tfgen import data, registry

    if steps < 1 or batch_size < 1 or checkpoint_every < 1:
        raise ValueError(
            f"Expected positive steps, batch_size and checkpoint_every, got "
            f"{steps}, {batch_size}, {checkpoint_every}."
        )
    entry = registry.get(model_name)
    dataset = dataset or entry.dataset
    if isinstance(dataset_options, str):
        dataset_options = registry.parse_hparams(dataset_options)
    options = registry.dataset_options(model_name, dataset, dataset_options)
    resolved = registry.resolve_hparams(model_name, hparams, dataset, options)
    # What a resumed run must share with the one it continues: the model, and the data
    # stream, which `batch_size` and `seed` define (step N resumes at example N * batch_size).
    config = hparams_lib.to_json(
        {
            "model": model_name,
            "dataset": dataset,
            "dataset_options": options,
            "hparams": resolved,
            "batch_size": batch_size,
            "seed": seed,
        }
    )
    run = RunDir(model_dir)

    tf.keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    if strategy == "parameter_server" and strategies.task()[0] in ("worker", "ps"):
        strategies.serve_forever()  # Workers and parameter servers only serve the chief.
    if isinstance(strategy, str):
        strategy = strategies.make_strategy(strategy)
    coordinated = getattr(strategy, "_should_use_with_coordinator", False)  # PSS
    chief = strategies.is_chief(strategy)

    if chief:
        run.write_config(config)

    with strategy.scope():
        model = entry.model_class(**resolved).build_example()
        optimizer = tf.keras.optimizers.Adam(learning_rate)
        optimizer.build(model.trainable_variables)
        model.compile(optimizer=optimizer, jit_compile=jit_compile)
    trackables = {"model": model, "optimizer": optimizer, "step": optimizer.iterations}
    checkpoint = run_dir.training_checkpoint(config, **trackables)
    write_dir = strategies.write_dir(run.checkpoint_dir, strategy)
    manager = run.checkpoint_manager(checkpoint, write_dir)
    latest = run.restore_latest(config, **trackables)
    optimizer.learning_rate = learning_rate  # The flag's, not the one the checkpoint restored.
    start = int(optimizer.iterations.numpy())
    if verbose and latest:
        print(f"Restored {latest} at step {start}.", flush=True)

    history = tf.keras.callbacks.History()
    history.history, history.epoch = {}, []
    if start < steps:
        if coordinated:
            _fit_coordinated(
                model,
                _in_memory(data, dataset, "train", options, batch_size),
                start,
                steps,
                checkpoint_every,
                manager,
                seed,
                history,
                [tf.keras.callbacks.TensorBoard(run.log_dir)],
                verbose,
            )
        else:
            # The stream is the same every run; skipping `start` batches resumes it.
            train_ds = data.load(dataset, "train", repeat=True, seed=seed, **options)
            train_ds = (
                train_ds.skip(start * batch_size)
                .batch(batch_size, drop_remainder=True)
                .prefetch(tf.data.AUTOTUNE)
                .with_options(_shard_options(tf.data.experimental.AutoShardPolicy.DATA))
            )
            callbacks = [
                _Checkpointer(manager, steps, checkpoint_every),
                tf.keras.callbacks.TensorBoard(run.log_dir),
                history,
            ]
            model.fit(
                train_ds,
                steps_per_epoch=checkpoint_every,
                epochs=math.ceil(steps / checkpoint_every),
                initial_epoch=start // checkpoint_every,
                callbacks=callbacks,
                verbose=verbose,
            )
    if verbose:
        print(f"Trained to step {int(optimizer.iterations.numpy())} of {steps}.", flush=True)
    if write_dir != run.checkpoint_dir:
        shutil.rmtree(write_dir, ignore_errors=True)

    history.test_metrics = {}
    if eval_batches and coordinated:
        num_test = data.info(dataset, **options).num_examples["test"]
        eval_steps = eval_batches if eval_batches > 0 else math.ceil(num_test / batch_size)
        test_ds = _in_memory(data, dataset, "test", options, batch_size)(seed)
        results = model.evaluate(test_ds, steps=eval_steps, verbose=0, return_dict=True)
    elif eval_batches:
        test_ds = data.load(dataset, "test", batch_size=batch_size, **options)
        if eval_batches > 0:
            test_ds = test_ds.take(eval_batches)
        # Every worker evaluates the whole (small) test set: no uneven shards.
        test_ds = test_ds.with_options(_shard_options(tf.data.experimental.AutoShardPolicy.OFF))
        results = model.evaluate(test_ds, verbose=0, return_dict=True)
    if eval_batches:
        history.test_metrics = {k: float(v) for k, v in results.items()}
        print("test " + " ".join(f"{k}={v:.4f}" for k, v in sorted(results.items())), flush=True)
    if final_weights:
        np.savez(final_weights, *model.get_weights())
    return model, history


def _in_memory(data, dataset, split, options, batch_size):
    """`seed -> DatasetCreator` over one pass of `split` held in memory.

    For ParameterServerStrategy, which runs the input pipeline on remote
    workers: `tfgen.data` pipelines count epochs in Python (`from_generator`),
    which only runs in this process, so the workers get the split as
    constants (one draw of any per-epoch randomness), reshuffled each pass.
    """
    num = data.info(dataset, **options).num_examples[split]
    arrays = next(iter(data.load(dataset, split, batch_size=num, shuffle=False, **options)))
    arrays = {key: value.numpy() for key, value in arrays.items()}

    def creator(seed):
        def dataset_fn(context):
            per_replica = context.get_per_replica_batch_size(batch_size)
            return (
                tf.data.Dataset.from_tensor_slices(arrays)
                .shuffle(num, seed=seed)
                .repeat()
                .batch(per_replica, drop_remainder=True)
            )

        return tf.keras.utils.experimental.DatasetCreator(dataset_fn)

    return creator


def _fit_coordinated(
    model, creator, start, steps, every, manager, seed, history, callbacks, verbose
):
    """ParameterServerStrategy `fit`: one call per checkpoint interval.

    Keras allows no batch-level callbacks under a `ClusterCoordinator`, so the
    checkpoints are taken between `fit` calls, each of which runs up to the next
    multiple of `every` (or `steps`); the data order is seeded by the step.
    """
    step = start
    while step < steps:
        count = min(every - step % every, steps - step)
        result = model.fit(
            creator(seed * 1_000_003 + step),
            steps_per_epoch=count,
            initial_epoch=step // every,
            epochs=step // every + 1,
            callbacks=callbacks,
            verbose=2 if verbose else 0,
        )
        for key, values in result.history.items():
            history.history.setdefault(key, []).extend(values)
        history.epoch.extend(result.epoch)
        step = int(model.optimizer.iterations.numpy())
        check_finite(manager, step, result.history.get("loss", [None])[-1], model.weights)
        manager.save(checkpoint_number=step)


def _shard_options(policy):
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = policy
    return options
