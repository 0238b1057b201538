"""The run directory: where one training run keeps its config, checkpoints and logs.

Training (`python -m training`), the RL runner, export (`python -m export`)
and the Parallel WaveNet teacher all read and write runs through `RunDir`:

    model_dir/config.json     model name, dataset (or environment), options, hparams
    model_dir/checkpoints/    `tf.train.CheckpointManager` checkpoints, each also holding
                              the config (`training_checkpoint`, `checkpoint_config`)
    model_dir/logs/           TensorBoard event files
    model_dir/export/<N>/     SavedModel versions written by the run (RL policies)

>>> run = RunDir("/tmp/run")
>>> run.checkpoint_dir
'/tmp/run/checkpoints'
"""

import json
import os

import tensorflow as tf
from absl import logging

CONFIG_FILE = "config.json"
CHECKPOINT_DIR = "checkpoints"
LOG_DIR = "logs"
EXPORT_DIR = "export"
# The checkpointed string variable holding the run's config (JSON), and its key in a checkpoint.
CONFIG_VARIABLE = "run_config"
_CONFIG_KEY = f"{CONFIG_VARIABLE}/.ATTRIBUTES/VARIABLE_VALUE"


def training_checkpoint(config, **trackables):
    """A `tf.train.Checkpoint` of `trackables` that also saves the run's `config`.

    The config (the dict `config.json` holds: model name, hyper-parameters, ...)
    is saved as a string variable, so a checkpoint prefix copied away from its
    run still says which model it is (`checkpoint_config`).

    Args:
      config: the run's configuration, a JSON-serialisable dict.
      **trackables: the objects to checkpoint (model, optimizer, step, ...).

    Returns:
      The `tf.train.Checkpoint`.
    """
    text = json.dumps(config, sort_keys=True)
    variable = tf.Variable(text, dtype=tf.string, trainable=False, name=CONFIG_VARIABLE)
    return tf.train.Checkpoint(**trackables, **{CONFIG_VARIABLE: variable})


def checkpoint_config(prefix):
    """The run config saved in checkpoint `prefix`, or None for a checkpoint without one."""
    reader = tf.train.load_checkpoint(prefix)
    if not reader.has_tensor(_CONFIG_KEY):
        return None
    return json.loads(reader.get_tensor(_CONFIG_KEY).decode("utf-8"))


def checkpoint_error(prefix):
    """Why checkpoint `prefix` cannot be restored (naming the file), or None if it can.

    Reads every tensor back, so truncated files and flipped bytes (the
    checkpoint format's checksums) are found before a restore is attempted.
    """
    index = f"{prefix}.index"
    if not tf.io.gfile.exists(index):
        return f"{index} is missing"
    try:
        reader = tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as error:
        return f"{index} is unreadable ({getattr(error, 'message', error)})"
    try:
        for key in reader.get_variable_to_dtype_map():
            reader.get_tensor(key)
    except (tf.errors.OpError, IndexError, ValueError) as error:
        data = ", ".join(sorted(tf.io.gfile.glob(f"{prefix}.data-*"))) or f"{prefix}.data-*"
        return f"{data} is unreadable ({getattr(error, 'message', error)})"
    return None


def config_differences(expected, actual):
    """`"key: expected E, got A; ..."` for the top-level keys where two configs differ."""
    keys = sorted(set(expected) | set(actual))
    return "; ".join(
        f"{key}: expected {expected.get(key)!r}, got {actual.get(key)!r}"
        for key in keys
        if expected.get(key) != actual.get(key)
    )


class RunDir:
    """A training run's directory.

    Args:
      path: the run directory (`--model_dir`).
    """

    def __init__(self, path):
        if not isinstance(path, (str, os.PathLike)) or not str(path):
            raise ValueError(f"model_dir: expected a directory path, got {path!r}.")
        self.path = str(path)

    @classmethod
    def of_checkpoint(cls, prefix):
        """The run that holds checkpoint `prefix` (`model_dir/checkpoints/ckpt-N`)."""
        return cls(os.path.dirname(os.path.dirname(os.path.abspath(prefix))))

    @property
    def config_path(self):
        return os.path.join(self.path, CONFIG_FILE)

    @property
    def checkpoint_dir(self):
        return os.path.join(self.path, CHECKPOINT_DIR)

    @property
    def log_dir(self):
        return os.path.join(self.path, LOG_DIR)

    @property
    def export_base(self):
        return os.path.join(self.path, EXPORT_DIR)

    def has_config(self):
        return os.path.exists(self.config_path)

    def read_config(self):
        """The run configuration as a dict.

        Raises:
          ValueError: when the run has no config file.
        """
        if not self.has_config():
            raise ValueError(
                f"Expected a training run with {CONFIG_FILE} in {self.path!r}, got no such file."
            )
        with open(self.config_path, encoding="utf-8") as f:
            return json.load(f)

    def write_config(self, config):
        """Writes `config`; refuses a run that has checkpoints under another config.

        Raises:
          ValueError: when the directory holds a checkpointed run whose config
            differs from `config` (resuming it would mix two runs).
        """
        if self.has_config() and self._checkpoint_paths():
            previous = self.read_config()
            # Keys added to the config since the run began (an older run) are not compared.
            given = {key: config.get(key) for key in previous}
            if previous != given:
                raise ValueError(
                    f"Expected the configuration of the run in {self.path!r}, which has "
                    f"checkpoints, got another ({config_differences(previous, given)}); "
                    f"resume with the run's flags or use another --model_dir."
                )
        os.makedirs(self.path, exist_ok=True)
        with open(self.config_path, "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2, sort_keys=True)

    def _checkpoint_paths(self):
        """The checkpoint prefixes the run's `checkpoint` index lists, oldest first."""
        state = tf.train.get_checkpoint_state(self.checkpoint_dir)
        if state is None:
            return []
        paths = list(state.all_model_checkpoint_paths)
        if state.model_checkpoint_path and state.model_checkpoint_path not in paths:
            paths.append(state.model_checkpoint_path)
        return [os.path.join(self.checkpoint_dir, path) for path in paths]

    def latest_checkpoint(self):
        """The newest checkpoint prefix whose files are whole, or None when the run has none.

        A checkpoint whose files are missing, truncated or corrupt is skipped with a
        warning naming the file, and the newest good one before it is used.

        Raises:
          ValueError: when the checkpoint index names checkpoints but none of them
            is whole (resuming would silently start again from step 0).
        """
        errors = []
        for prefix in reversed(self._checkpoint_paths()):
            error = checkpoint_error(prefix)
            if error is None:
                return prefix
            logging.warning("Skipping checkpoint %s: %s.", prefix, error)
            errors.append(f"{prefix}: {error}")
        if errors:
            index = os.path.join(self.checkpoint_dir, "checkpoint")
            raise ValueError(
                f"Expected a whole checkpoint among those {index!r} names, got none: "
                f"{'; '.join(errors)}. Restore them, or remove {index!r} to train from step 0."
            )
        return None

    def restore_latest(self, config, **trackables):
        """Restores the newest whole checkpoint into `trackables`; returns its prefix or None.

        Args:
          config: the run's configuration; a checkpoint that saved another one is refused.
          **trackables: the objects checkpointed by `training_checkpoint`, by name.

        Raises:
          ValueError: when the checkpoint was saved with another configuration, lacks
            any of `trackables`' variables, or none of the run's checkpoints is whole.
        """
        prefix = self.latest_checkpoint()
        if prefix is None:
            return None
        saved = checkpoint_config(prefix)
        if saved is not None and saved != config:
            raise ValueError(
                f"Expected checkpoint {prefix!r} to be of this run's configuration, got "
                f"another ({config_differences(saved, config)})."
            )
        # A checkpoint of a run without a saved config (older runs) restores as well.
        tf.train.Checkpoint(**trackables).read(
            prefix
        ).expect_partial().assert_existing_objects_matched()
        return prefix

    def checkpoint_manager(self, checkpoint, directory=None, max_to_keep=3):
        """A `tf.train.CheckpointManager` writing into `directory` (default: the run's)."""
        return tf.train.CheckpointManager(
            checkpoint, directory or self.checkpoint_dir, max_to_keep=max_to_keep
        )

    def model_checkpoint(self, expected_model=None):
        """`(config, prefix)` of the run's latest checkpoint, checking the model name.

        Raises:
          ValueError: when the config is missing, names another model than
            `expected_model`, or the run has no checkpoint.
        """
        config = self.read_config()
        if expected_model is not None and config.get("model") != expected_model:
            raise ValueError(
                f"Expected a run of model {expected_model!r} in {self.path!r}, "
                f"got {config.get('model')!r}."
            )
        prefix = self.latest_checkpoint()
        if prefix is None:
            raise ValueError(f"Expected a checkpoint in {self.checkpoint_dir!r}, got none.")
        return config, prefix
