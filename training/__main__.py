"""`python -m training` / `tfgen-train`: train a registered model or RL agent.

    python -m training --model pixelcnn --dataset digits --steps 500 \
        --model_dir /tmp/run --hparams num_layers=4
    python -m training --model a3c --env CartPole-v1 --threads 4 --steps 100000 \
        --model_dir /tmp/a3c                        # an agent: see training/rl.py
    python -m training --model grid_lstm --curriculum prediction_gain --steps 2000 \
        --hparams core=lstm,units=32,num_layers=1 --dataset_options max_len=3,max_repeats=2 \
        --model_dir /tmp/curriculum                 # see training/curriculum.py

`--model` is looked up in `tfgen.registry`: a model (`kind == "model"`) is
trained with Keras `fit` (`training.loop`), an agent (`kind == "agent"`) on
its environment by the RL runner (`training.rl`). Runs started again with the
same flags resume from their last checkpoint.

`--curriculum SIGNAL` (a learning-progress signal of arXiv 1704.03003, or
`uniform`) trains a sequence-task model (`act`, `grid_lstm`,
`associative_lstm`) on the repeat-copy curriculum instead, one task per
sequence length and number of repeats (`--dataset_options max_len=..,
max_repeats=..,num_bits=..`), the Exp3.S bandit choosing the task of each
batch (`training.curriculum`); it runs in one process (`--strategy default`).
"""

from absl import app

from training import flags as training_flags
from training import loop

FLAGS = training_flags.FLAGS


def main(argv):
    """Trains with the parsed flags."""
    from tfgen import registry

    if len(argv) > 1:
        raise app.UsageError(f"Expected only flags, got {argv[1:]}.")
    try:
        entry = registry.get(FLAGS.model)
    except ValueError as error:
        raise app.UsageError(str(error)) from None
    if FLAGS.curriculum is not None:
        return _train_curriculum(entry)
    if entry.kind == registry.AGENT:
        return _train_agent(entry)
    if FLAGS.env is not None:
        raise app.UsageError(
            f"--env is for agents; --model {entry.name} is a model, expected --dataset instead."
        )
    loop.train(
        FLAGS.model,
        FLAGS.dataset,
        steps=FLAGS.steps,
        batch_size=FLAGS.batch_size,
        model_dir=FLAGS.model_dir,
        hparams=FLAGS.hparams,
        dataset_options=FLAGS.dataset_options,
        learning_rate=FLAGS.learning_rate,
        strategy=FLAGS.strategy,
        jit_compile=FLAGS.jit_compile,
        checkpoint_every=FLAGS.checkpoint_every,
        seed=FLAGS.seed,
        eval_batches=FLAGS.eval_batches,
        deterministic=FLAGS.deterministic,
        final_weights=FLAGS.final_weights,
    )


def _train_curriculum(entry):
    """`--curriculum SIGNAL`: a sequence-task model on the repeat-copy curriculum."""
    from training import curriculum

    try:
        curriculum.check_model(entry.name)
    except ValueError as error:
        raise app.UsageError(str(error)) from None
    if FLAGS.dataset not in (None, curriculum.DATASET):
        raise app.UsageError(
            f"--curriculum trains on {curriculum.DATASET} tasks: expected no --dataset (or "
            f"--dataset {curriculum.DATASET}), got --dataset {FLAGS.dataset}."
        )
    for name in ("env", "strategy", "final_weights"):
        if FLAGS[name].value != FLAGS[name].default:
            raise app.UsageError(
                f"--curriculum trains on repeat-copy tasks in one process: expected --{name} left "
                f"at its default {FLAGS[name].default!r}, got {FLAGS[name].value!r}."
            )
    curriculum.train_curriculum(
        entry.name,
        FLAGS.curriculum,
        steps=FLAGS.steps,
        batch_size=FLAGS.batch_size,
        model_dir=FLAGS.model_dir,
        hparams=FLAGS.hparams,
        dataset_options=FLAGS.dataset_options,
        learning_rate=FLAGS.learning_rate,
        jit_compile=FLAGS.jit_compile,
        checkpoint_every=FLAGS.checkpoint_every,
        seed=FLAGS.seed,
        eval_batches=FLAGS.eval_batches,
        deterministic=FLAGS.deterministic,
    )


def _train_agent(entry):
    """An agent: `--threads` actor-learners on `--env` for `--steps` frames."""
    from training import rl

    if FLAGS.strategy != "default":
        raise app.UsageError(
            f"--model {entry.name} (an agent) expected --strategy default (its "
            f"learners are threads), got {FLAGS.strategy!r}."
        )
    if FLAGS.dataset is not None:
        raise app.UsageError(
            f"--model {entry.name} is an agent, expected --env (default "
            f"{entry.dataset}) instead of --dataset."
        )
    learning_rate = FLAGS.learning_rate if FLAGS["learning_rate"].present else None
    rl.train_agent(
        entry.name,
        FLAGS.env or entry.dataset,
        threads=FLAGS.threads,
        frames=FLAGS.steps,
        model_dir=FLAGS.model_dir,
        hparams=FLAGS.hparams,
        seed=FLAGS.seed,
        learning_rate=learning_rate,
        checkpoint_every=FLAGS.checkpoint_every,
    )


def run():
    """Console entry point (`tfgen-train`)."""
    training_flags.define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
