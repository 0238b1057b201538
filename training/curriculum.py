"""`python -m training --model NAME --curriculum SIGNAL`: automated curriculum learning.

The repeat-copy curriculum of Graves et al. 2017 (arXiv 1704.03003, Sec. 5):
one task per (sequence length l, number of repeats r) of the `tfgen.data`
`repeat_copy` stream, l up to `max_len` and r up to `max_repeats`
(`tfgen.algorithms.curriculum.repeat_copy_tasks`), the target task the
largest. The task of every training batch is chosen by the syllabus of the
paper's Algorithm 1, the Exp3.S bandit rewarded by the learning-progress
signal SIGNAL (Sec. 4), or by `uniform` sampling, the baseline. The model is
a registered sequence-task model (`act`, `grid_lstm`, `associative_lstm`)
built for the repeat-copy data and trained with Adam, one optimizer step per
chosen batch. Every task's sequences are padded to the same length, so each
batch costs the same time and the learning progress is not divided by a cost.

    python -m training --model grid_lstm --curriculum prediction_gain \
        --hparams core=lstm,units=32,num_layers=1 \
        --dataset_options max_len=3,max_repeats=2,num_bits=4 --steps 2000 \
        --model_dir /tmp/curriculum

A run lives in a `tfgen.run_dir.RunDir`, laid out as `training.loop` lays it out:

    model_dir/config.json      model, dataset options, hparams, curriculum signal, batch size,
                               seed
    model_dir/checkpoints/     model, optimizer, step and config (`tf.train.CheckpointManager`)
                               and, beside each `ckpt-N`, the syllabus state `curriculum-N.json`
    model_dir/logs/            TensorBoard: loss, task, gain, reward and p(task) per step
    model_dir/curriculum.png   the task-selection probabilities over the run

The syllabus state holds the history of the run (the task, unscaled gain and
reward of every step), the bandit's weights, the task-draw generator and the
number of batches drawn from each task. A run started again with the same
flags restores its latest checkpoint and that state (the reward reservoir is
rebuilt by replaying the recorded gains) and continues every task's data
stream where it stopped. `python -m export --checkpoint model_dir` exports
the trained model as it exports an ordinary run.
"""

import dataclasses
import json
import os

import numpy as np
import tensorflow as tf

from tfgen import hparams as hparams_lib
from tfgen import registry, run_dir
from tfgen.algorithms import curriculum
from tfgen.checks import check_choice, check_int
from tfgen.run_dir import RunDir
from training.loop import check_finite

DATASET = "repeat_copy"
# A small curriculum: 6 tasks of 4-bit vectors, sequences padded to 11 steps.
DEFAULT_OPTIONS = {"max_len": 3, "max_repeats": 2, "num_bits": 4}
SYLLABI = (*curriculum.SIGNALS, curriculum.UNIFORM)
EVAL_BATCHES = 10  # Target-task test batches evaluated when `eval_batches` is negative.
PLOT_FILE = "curriculum.png"
STATE_FILE = "curriculum-{}.json"  # Beside checkpoint ckpt-{step}.


@dataclasses.dataclass
class Syllabus:
    """The record of a curriculum run, over all its steps (before and after restarts).

    Attributes:
      task_names: the N task names, `"l=..,r=.."`; the last is the target.
      tasks: int [steps], the task of each step.
      gains: float [steps], the unscaled learning progress of each step (empty when uniform).
      rewards: float [steps], the rescaled rewards in [-1, 1] (empty when uniform).
      probabilities: float [steps, N], the policy each step's task was drawn from.
      weights: float [N], the bandit's weights at the end.
      test_metrics: the target task's test metrics (empty when not evaluated).
      plot: the path of the picture of `probabilities`.
    """

    task_names: list
    tasks: np.ndarray
    gains: np.ndarray
    rewards: np.ndarray
    probabilities: np.ndarray
    weights: np.ndarray
    test_metrics: dict
    plot: str


def sequence_models():
    """The registered models that train on repeat-copy sequences (`SequenceTaskModel`s)."""
    from tfgen.models.sequence_task import SequenceTaskModel

    return [
        name
        for name in registry.names()
        if registry.get(name).kind == registry.MODEL
        and issubclass(registry.get(name).model_class, SequenceTaskModel)
    ]


def check_model(name):
    """Raises ValueError unless `name` is a registered model in `sequence_models()`."""
    entry = registry.get(name)
    models = sequence_models()
    if name not in models:
        raise ValueError(
            f"--curriculum trains on {DATASET} tasks: expected a sequence-task model (one of "
            f"{models}), got {entry.kind} {name!r} (registered on {entry.dataset!r})."
        )


def repeat_copy_options(overrides=None):
    """The repeat-copy options: `DEFAULT_OPTIONS` updated by `overrides` (dict or string)."""
    if isinstance(overrides, str):
        overrides = registry.parse_hparams(overrides)
    unknown = sorted(set(overrides or {}) - set(DEFAULT_OPTIONS))
    if unknown:
        raise ValueError(
            f"dataset_options: expected keys among {sorted(DEFAULT_OPTIONS)}, got {unknown}."
        )
    return {**DEFAULT_OPTIONS, **(overrides or {})}


class _TaskStream:
    """An endless task dataset as an iterator counting its batches, to resume where it stopped."""

    def __init__(self, dataset):
        self.dataset, self.count, self._iterator = dataset, 0, None

    def __iter__(self):
        return self

    def __next__(self):
        if self._iterator is None:
            self._iterator = iter(self.dataset.skip(self.count))
        self.count += 1
        return next(self._iterator)


def train_curriculum(
    model_name,
    signal,
    *,
    steps=1000,
    batch_size=32,
    model_dir,
    hparams=None,
    dataset_options=None,
    learning_rate=1e-3,
    jit_compile=False,
    checkpoint_every=100,
    seed=0,
    eval_batches=-1,
    deterministic=False,
    verbose=1,
):
    """Trains `model_name` on the repeat-copy curriculum by syllabus `signal`, resuming if possible.

    Args:
      model_name: a name in `sequence_models()`.
      signal: a name in `tfgen.algorithms.curriculum.SIGNALS` (Exp3.S rewarded
        by that learning-progress signal) or `"uniform"`.
      steps: total number of optimizer steps (chosen batches) of the run,
        including any steps done before a restart.
      batch_size: sequences per batch.
      model_dir: the run directory (see the module docstring).
      hparams: overrides of the model's hyper-parameters, a dict or a `"key=value,..."` string.
      dataset_options: `max_len`, `max_repeats`, `num_bits` of the tasks, a
        dict or a string; defaults `DEFAULT_OPTIONS`.
      learning_rate: Adam learning rate.
      jit_compile: compile the training step and the evaluation with XLA.
      checkpoint_every: steps between checkpoints (one is also written at `steps`).
      seed: seeds initialisation, the task data and the task draws.
      eval_batches: target-task test batches evaluated at the end; negative
        means `EVAL_BATCHES`, 0 skips evaluation.
      deterministic: call `tf.config.experimental.enable_op_determinism()`.
      verbose: 1 for the progress bar and messages, 0 for none.

    Returns:
      `(model, syllabus)`: the trained model and its `Syllabus`.

    Raises:
      ValueError: on a bad argument, a model that is not a sequence-task model,
        a complexity signal for a model without variational (`NoisyDense`)
        layers, or a `model_dir` holding another run; all before training.
    """
    for name, value in (
        ("steps", steps),
        ("batch_size", batch_size),
        ("checkpoint_every", checkpoint_every),
    ):
        check_int(value, name)
    check_choice(signal, "signal", SYLLABI)
    check_model(model_name)
    options = repeat_copy_options(dataset_options)
    resolved = registry.resolve_hparams(model_name, hparams, DATASET, options)
    run = RunDir(model_dir)

    tf.keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    model = registry.get(model_name).model_class(**resolved).build_example()
    optimizer = tf.keras.optimizers.Adam(learning_rate)
    optimizer.build(model.trainable_variables)
    model.compile(optimizer=optimizer, jit_compile=jit_compile)
    names, datasets = curriculum.repeat_copy_tasks(batch_size=batch_size, seed=seed, **options)
    streams = [_TaskStream(dataset) for dataset in datasets]
    learner = curriculum.Learner(model, jit_compile=jit_compile)
    # Raises now, before anything is written, for a complexity signal without NoisyDense layers.
    sampler = curriculum.CurriculumSampler(learner, streams, signal, seed=seed)
    config = hparams_lib.to_json(
        {
            "model": model_name,
            "dataset": DATASET,
            "dataset_options": options,
            "hparams": resolved,
            "curriculum": signal,
            "batch_size": batch_size,
            "seed": seed,
        }
    )
    run.write_config(config)

    trackables = {"model": model, "optimizer": optimizer, "step": optimizer.iterations}
    manager = run.checkpoint_manager(run_dir.training_checkpoint(config, **trackables))
    record = _restore(run, config, trackables, sampler, streams, verbose)
    optimizer.learning_rate = learning_rate  # The flag's, not the one the checkpoint restored.
    start = int(optimizer.iterations.numpy())
    if start < steps:
        _train(
            sampler, streams, record, names, run, manager, start, steps, checkpoint_every, verbose
        )
    if verbose:
        print(f"Trained to step {int(optimizer.iterations.numpy())} of {steps}.", flush=True)

    syllabus = _syllabus(sampler, record, names, os.path.join(run.path, PLOT_FILE))
    _plot(syllabus, signal)
    if eval_batches:
        target_test = curriculum.repeat_copy_tasks(
            batch_size=batch_size, split="test", seed=seed, **options
        )[1][-1]
        batches = eval_batches if eval_batches > 0 else EVAL_BATCHES
        results = model.evaluate(target_test.take(batches), verbose=0, return_dict=True)
        syllabus.test_metrics = {key: float(value) for key, value in results.items()}
        print(
            f"test (target task {names[-1]}) "
            + " ".join(f"{k}={v:.4f}" for k, v in sorted(results.items())),
            flush=True,
        )
    if verbose:
        print(f"Wrote the task-selection probabilities to {syllabus.plot}.", flush=True)
    return model, syllabus


def _state_path(run, step):
    return os.path.join(run.checkpoint_dir, STATE_FILE.format(step))


def _restore(run, config, trackables, sampler, streams, verbose):
    """Restores the latest checkpoint and its syllabus state; returns the run's record."""
    record = {"tasks": [], "gains": [], "rewards": []}
    latest = run.restore_latest(config, **trackables)
    if latest is None:
        return record
    step = int(trackables["step"].numpy())
    path = _state_path(run, step)
    if not os.path.exists(path):
        raise ValueError(
            f"Expected the syllabus state {path!r} beside checkpoint {latest!r}, got no such file."
        )
    with open(path, encoding="utf-8") as f:
        state = json.load(f)
    sampler.bandit.weights = np.asarray(state["weights"], np.float64)
    # 1704.03003 Sec. 3.1: the reward history; the reservoir's own draws replay with its seed.
    for gain in state["gains"]:
        sampler.history.add(gain)
    sampler.rng.bit_generator.state = state["rng"]
    for stream, count in zip(streams, state["batches"]):
        stream.count = count
    if verbose:
        print(f"Restored {latest} at step {step}.", flush=True)
    return {key: state[key] for key in record}


def _save(run, manager, sampler, streams, record, step):
    """Writes the syllabus state for `step` (atomically), then checkpoint ckpt-`step`."""
    state = {
        "step": step,
        **record,
        "weights": sampler.bandit.weights.tolist(),
        "rng": sampler.rng.bit_generator.state,
        "batches": [stream.count for stream in streams],
    }
    path = _state_path(run, step)
    os.makedirs(run.checkpoint_dir, exist_ok=True)
    temporary = f"{path}.tmp-{os.getpid()}"
    with open(temporary, "w", encoding="utf-8") as f:
        json.dump(state, f)
    os.replace(temporary, path)
    manager.save(checkpoint_number=step)
    kept = {STATE_FILE.format(prefix.rsplit("-", 1)[1]) for prefix in manager.checkpoints}
    for name in os.listdir(run.checkpoint_dir):
        if name.startswith("curriculum-") and name.endswith(".json") and name not in kept:
            os.remove(os.path.join(run.checkpoint_dir, name))


def _summarise(writer, step, loss, info, names):
    """TensorBoard scalars of one step: loss, task, gain, reward and the policy."""
    with writer.as_default(step=step):
        tf.summary.scalar("loss", loss)
        tf.summary.scalar("task", info["task"])
        for key in ("gain", "reward"):
            if key in info:
                tf.summary.scalar(key, info[key])
        for name, probability in zip(names, info["probabilities"]):
            tf.summary.scalar(f"probability/{name}", probability)


def _train(sampler, streams, record, names, run, manager, start, steps, every, verbose):
    """Algorithm 1 of 1704.03003 from step `start` to `steps`, checkpointing every `every`."""
    learner = sampler.learner
    writer = tf.summary.create_file_writer(run.log_dir)
    progbar = tf.keras.utils.Progbar(
        steps, stateful_metrics=["task", "p_target"], unit_name="step", verbose=verbose
    )
    progbar.update(start)
    step = start
    while step < steps:
        info = sampler.step()
        step = int(learner.optimizer.iterations.numpy())
        record["tasks"].append(info["task"])
        if "reward" in info:
            record["gains"].append(info["gain"])
            record["rewards"].append(info["reward"])
        loss = float(learner.last_loss.numpy())
        check_finite(manager, step, loss)
        _summarise(writer, step, loss, info, names)
        progbar.update(
            step,
            [
                ("loss", loss),
                ("task", info["task"]),
                ("p_target", info["probabilities"][-1]),
            ],
        )
        if step % every == 0 or step >= steps:
            check_finite(manager, step, loss, learner.model.weights)
            _save(run, manager, sampler, streams, record, step)
    writer.flush()


def _syllabus(sampler, record, names, plot):
    """The run's `Syllabus`; the policy of each step is replayed from the recorded rewards."""
    num_tasks = len(names)
    if sampler.signal == curriculum.UNIFORM:
        probabilities = np.tile(sampler.probabilities(), (len(record["tasks"]), 1))
    else:
        played = sampler.bandit
        bandit = curriculum.Exp3S(num_tasks, played.eta, played.beta, played.epsilon, played.alpha)
        probabilities = []
        for task, reward in zip(record["tasks"], record["rewards"]):
            probabilities.append(bandit.probabilities())
            bandit.update(task, reward)
        probabilities = np.reshape(probabilities, (-1, num_tasks))
    return Syllabus(
        task_names=list(names),
        tasks=np.asarray(record["tasks"], np.int64),
        gains=np.asarray(record["gains"], np.float64),
        rewards=np.asarray(record["rewards"], np.float64),
        probabilities=probabilities,
        weights=np.array(sampler.bandit.weights),
        test_metrics={},
        plot=plot,
    )


def _plot(syllabus, signal):
    """Draws `syllabus.probabilities` against the step to `syllabus.plot` (a PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = syllabus.task_names
    figure, axis = plt.subplots(figsize=(7, 4))
    colours = plt.cm.viridis(np.linspace(0, 1, len(names)))
    steps = np.arange(1, len(syllabus.probabilities) + 1)
    for task, name in enumerate(names):
        target = task == len(names) - 1
        axis.plot(
            steps,
            syllabus.probabilities[:, task],
            color=colours[task],
            lw=2 if target else 1,
            label=f"{name} (target)" if target else name,
        )
    axis.set_xlabel("step")
    axis.set_ylabel("p(task)")
    axis.set_title(f"Task-selection probabilities, {signal} (repeat copy, arXiv 1704.03003)")
    axis.legend(fontsize=6, ncol=max(1, len(names) // 12), loc="upper left")
    figure.savefig(syllabus.plot, dpi=100, bbox_inches="tight")
    plt.close(figure)
