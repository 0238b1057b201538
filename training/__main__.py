"""`python -m training` / `tfgen-train`: train a registered model with Keras fit.

    python -m training --model pixelcnn --dataset digits --steps 500 \
        --model_dir /tmp/run --hparams num_layers=4

Runs started again with the same flags resume from their last checkpoint.
"""

from absl import app

from training import flags as training_flags
from training import loop

FLAGS = training_flags.FLAGS


def main(argv):
    """Trains with the parsed flags."""
    if len(argv) > 1:
        raise app.UsageError(f"Expected only flags, got {argv[1:]}.")
    loop.train(FLAGS.model, FLAGS.dataset, steps=FLAGS.steps, batch_size=FLAGS.batch_size,
               model_dir=FLAGS.model_dir, hparams=FLAGS.hparams,
               dataset_options=FLAGS.dataset_options, learning_rate=FLAGS.learning_rate,
               strategy=FLAGS.strategy, jit_compile=FLAGS.jit_compile,
               checkpoint_every=FLAGS.checkpoint_every, seed=FLAGS.seed,
               eval_batches=FLAGS.eval_batches, deterministic=FLAGS.deterministic,
               final_weights=FLAGS.final_weights)


def run():
    """Console entry point (`tfgen-train`)."""
    training_flags.define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
