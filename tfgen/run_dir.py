"""The run directory: where one training run keeps its config, checkpoints and logs.

Training (`python -m training`), the RL runner, export (`python -m export`)
and the Parallel WaveNet teacher all read and write runs through `RunDir`:

    model_dir/config.json     model name, dataset (or environment), options, hparams
    model_dir/checkpoints/    `tf.train.CheckpointManager` checkpoints
    model_dir/logs/           TensorBoard event files
    model_dir/export/<N>/     SavedModel versions written by the run (RL policies)

>>> run = RunDir("/tmp/run")
>>> run.checkpoint_dir
'/tmp/run/checkpoints'
"""

import json
import os

import tensorflow as tf

CONFIG_FILE = "config.json"
CHECKPOINT_DIR = "checkpoints"
LOG_DIR = "logs"
EXPORT_DIR = "export"


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
        if self.has_config() and self.latest_checkpoint():
            previous = self.read_config()
            if previous != config:
                raise ValueError(
                    f"Expected the configuration of the run in {self.path!r} "
                    f"({previous}), got {config}; use another --model_dir."
                )
        os.makedirs(self.path, exist_ok=True)
        with open(self.config_path, "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2, sort_keys=True)

    def latest_checkpoint(self):
        """The newest checkpoint prefix, or None when the run has none.

        Raises:
          ValueError: when the checkpoint index names a checkpoint whose files are gone
            (resuming would silently start again from step 0).
        """
        prefix = tf.train.latest_checkpoint(self.checkpoint_dir)
        state = tf.train.get_checkpoint_state(self.checkpoint_dir)
        if prefix is None and state is not None and state.model_checkpoint_path:
            index = os.path.join(self.checkpoint_dir, "checkpoint")
            raise ValueError(
                f"Expected the files of checkpoint {state.model_checkpoint_path!r}, which "
                f"{index!r} names as the latest, got none ({state.model_checkpoint_path}.index "
                f"is missing); restore them, or remove {index!r} to train from step 0."
            )
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
