"""`python -m training` / `tfgen-train`: train a registered model with Keras fit.

    python -m training --model pixelcnn --dataset digits --steps 500 \
        --model_dir /tmp/run --hparams num_layers=4
    python -m training --model a3c --env CartPole-v1 --threads 4 --steps 100000 \
        --model_dir /tmp/a3c                        # RL: see training/rl.py

Runs started again with the same flags resume from their last checkpoint.
"""

from absl import app

from training import flags as training_flags
from training import loop

FLAGS = training_flags.FLAGS
RL_MODEL = "a3c"  # Not a registry model: trained by `training.rl`.


def main(argv):
    """Trains with the parsed flags."""
    if len(argv) > 1:
        raise app.UsageError(f"Expected only flags, got {argv[1:]}.")
    if FLAGS.model == RL_MODEL:
        return _train_rl()
    loop.train(FLAGS.model, FLAGS.dataset, steps=FLAGS.steps, batch_size=FLAGS.batch_size,
               model_dir=FLAGS.model_dir, hparams=FLAGS.hparams,
               dataset_options=FLAGS.dataset_options, learning_rate=FLAGS.learning_rate,
               strategy=FLAGS.strategy, jit_compile=FLAGS.jit_compile,
               checkpoint_every=FLAGS.checkpoint_every, seed=FLAGS.seed,
               eval_batches=FLAGS.eval_batches, deterministic=FLAGS.deterministic,
               final_weights=FLAGS.final_weights)


def _train_rl():
    """`--model a3c`: A3C actor-learner threads on `--env` for `--steps` frames."""
    from training import rl

    if FLAGS.strategy != "default":
        raise app.UsageError(f"--model {RL_MODEL} expected --strategy default (its learners "
                             f"are threads), got {FLAGS.strategy!r}.")
    learning_rate = FLAGS.learning_rate if FLAGS["learning_rate"].present else None
    rl.train_a3c(FLAGS.env, threads=FLAGS.threads, frames=FLAGS.steps,
                 model_dir=FLAGS.model_dir, hparams=FLAGS.hparams, seed=FLAGS.seed,
                 learning_rate=learning_rate)


def run():
    """Console entry point (`tfgen-train`)."""
    training_flags.define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
