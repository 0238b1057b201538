"""absl flags of `python -m training`."""

from absl import flags

from tfgen.algorithms import curriculum
from training import strategies

FLAGS = flags.FLAGS


def define_flags():
    """Defines the training flags (idempotent)."""
    if "steps" in FLAGS:
        return
    flags.DEFINE_string("model", None, "Registered model or agent name (tfgen.registry.names()).")
    flags.DEFINE_string("dataset", None, "tfgen.data dataset; default: the model's dataset.")
    flags.DEFINE_string("dataset_options", "", "tfgen.data.load options, 'key=value,...'.")
    flags.DEFINE_string("hparams", "", "Hyper-parameter overrides, 'key=value,...'.")
    flags.DEFINE_integer(
        "steps", 1000, "Total optimizer steps of the run (agents: environment frames)."
    )
    flags.DEFINE_integer("batch_size", 32, "Global batch size.")
    flags.DEFINE_float(
        "learning_rate",
        1e-3,
        "Adam learning rate (agents: when given, overrides the learning_rate hyper-parameter).",
    )
    flags.DEFINE_string(
        "model_dir",
        None,
        "Run directory: config.json, checkpoints/, logs/, export/ (agents' policies).",
    )
    flags.DEFINE_enum(
        "strategy",
        "default",
        list(strategies.STRATEGIES),
        "tf.distribute strategy; clusters come from TF_CONFIG.",
    )
    flags.DEFINE_bool("jit_compile", False, "Compile the train step with XLA.")
    flags.DEFINE_integer(
        "checkpoint_every", 100, "Steps between checkpoints (agents: environment frames)."
    )
    flags.DEFINE_integer("seed", 0, "Seed of initialisation and data order.")
    flags.DEFINE_integer(
        "eval_batches", -1, "Test batches evaluated at the end (-1: all, 0: none)."
    )
    flags.DEFINE_bool("deterministic", False, "tf.config.experimental.enable_op_determinism().")
    flags.DEFINE_string("final_weights", None, "Write this process's final weights to this .npz.")
    flags.DEFINE_string(
        "env",
        None,
        "Agents (registry kind 'agent', e.g. a3c): the "
        "suite_gym environment; default: the agent's environment.",
    )
    flags.DEFINE_integer(
        "threads", 1, "Agents: actor-learner threads; --steps counts environment frames."
    )
    flags.DEFINE_enum(
        "curriculum",
        None,
        list(curriculum.SIGNALS) + [curriculum.UNIFORM],
        "Models: train on the repeat-copy curriculum of arXiv 1704.03003 (one task per "
        "sequence length and number of repeats; --dataset_options max_len, max_repeats, "
        "num_bits), each batch's task chosen by Exp3.S rewarded by this learning-progress "
        "signal, or uniformly; default: an ordinary run on --dataset.",
    )
    flags.mark_flags_as_required(["model", "model_dir"])
