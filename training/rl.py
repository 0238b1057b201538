"""`python -m training --model a3c`: A3C on a tf-agents `suite_gym` environment.

    python -m training --model a3c --env CartPole-v1 --threads 4 --steps 100000 \
        --model_dir /tmp/a3c [--hparams t_max=20,lstm_size=64] [--hparams noisy=True]

`--steps` counts environment frames, A3C's shared counter `T` (Algorithm S3),
over all `--threads` actor-learners. A run lives in `model_dir`:

    model_dir/config.json     model, env, threads, hparams
    model_dir/checkpoints/    shared network, shared RMSProp statistics, frames
    model_dir/logs/           TensorBoard: `episode_return` against frames
    model_dir/policy/<N>/     the policy (PolicySaver + `serving_default`), servable

A run started again with the same flags restores its checkpoint and continues
from its frame count (environments and LSTM states start afresh).
"""

import json
import os

import numpy as np
import tensorflow as tf

CONFIG_FILE, CHECKPOINT_DIR, LOG_DIR, POLICY_DIR = "config.json", "checkpoints", "logs", "policy"
RECENT = 10  # Episodes averaged in the progress bar.

# A3C hyper-parameters (arXiv 1602.01783 Sec. 5 / 8; the learning rate suits CartPole).
HPARAMS = {"fc_layer_params": (64,), "lstm_size": None, "noisy": False, "t_max": 5,
           "gamma": 0.99, "entropy_beta": None, "value_loss_coef": 0.5, "learning_rate": 3e-3,
           "anneal": True, "rmsprop_decay": 0.99, "rmsprop_epsilon": 0.1,
           "max_gradient_norm": None}


def resolve_hparams(hparams=None):
    """`HPARAMS` updated with `hparams` (a dict or a `"key=value,..."` string)."""
    from tfgen import registry

    if isinstance(hparams, str):
        hparams = registry.parse_hparams(hparams)
    unknown = sorted(set(hparams or {}) - set(HPARAMS))
    if unknown:
        raise ValueError(f"hparams: expected keys among {sorted(HPARAMS)}, got {unknown}.")
    resolved = dict(HPARAMS, **(hparams or {}))
    resolved["fc_layer_params"] = tuple(resolved["fc_layer_params"])
    return resolved


def _write_config(model_dir, config):
    path = os.path.join(model_dir, CONFIG_FILE)
    if os.path.exists(path) and tf.train.latest_checkpoint(os.path.join(model_dir,
                                                                        CHECKPOINT_DIR)):
        with open(path, encoding="utf-8") as f:
            previous = json.load(f)
        if previous != config:
            raise ValueError(f"Expected the configuration of the run in {model_dir!r} "
                             f"({previous}), got {config}; use another --model_dir.")
    os.makedirs(model_dir, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2, sort_keys=True)


def _next_version(base):
    versions = [int(n) for n in os.listdir(base) if n.isdigit()] if os.path.isdir(base) else []
    return str(max(versions, default=0) + 1)


class _Reporter:
    """The progress bar (episodes, recent return) and TensorBoard summaries."""

    def __init__(self, frames, start, log_dir, verbose):
        self.writer = tf.summary.create_file_writer(log_dir)
        self.returns = []
        self.progbar = tf.keras.utils.Progbar(frames, stateful_metrics=["episodes", "return"],
                                              unit_name="frame", interval=0.5,
                                              verbose=verbose)
        self.progbar.update(start)

    def recent_return(self):
        return float(np.mean(self.returns[-RECENT:])) if self.returns else float("nan")

    def __call__(self, frame, episode_return):
        self.returns.append(episode_return)
        with self.writer.as_default():
            tf.summary.scalar("episode_return", episode_return, step=frame)
        self.progbar.update(frame, [("episodes", len(self.returns)),
                                    ("return", self.recent_return())])

    def close(self, frame):
        self.progbar.update(frame, [("episodes", len(self.returns)),
                                    ("return", self.recent_return())], finalize=True)
        self.writer.flush()


def train_a3c(env="CartPole-v1", *, threads=1, frames, model_dir, hparams=None, seed=0,
              learning_rate=None, verbose=1):
    """Trains A3C with `threads` actor-learners for `frames` frames, resuming if possible.

    Args:
      env: a `suite_gym` environment name.
      threads: number of actor-learner threads `k`.
      frames: total environment frames of the run (including earlier runs).
      model_dir: the run directory (see the module docstring).
      hparams: overrides of `HPARAMS`, a dict or a `"key=value,..."` string.
      seed: seeds networks, environments and noise.
      learning_rate: if not None, overrides `hparams["learning_rate"]`.
      verbose: 1 for the progress bar, 0 for none.

    Returns:
      The trained `tfgen.rl.a3c.A3C`.
    """
    from tfgen.rl.a2c_agent import save_policy
    from tfgen.rl.a3c import A3C

    if frames < 1:
        raise ValueError(f"frames: expected a positive int, got {frames}.")
    resolved = resolve_hparams(hparams)
    if learning_rate is not None:
        resolved["learning_rate"] = learning_rate
    _write_config(model_dir, json.loads(json.dumps(
        {"model": "a3c", "env": env, "threads": threads, "seed": seed, "hparams": resolved})))

    a3c = A3C(env, num_threads=threads, seed=seed, **resolved)
    frame_count = tf.Variable(0, dtype=tf.int64, trainable=False, name="frames")
    checkpoint = tf.train.Checkpoint(network=a3c.network, optimizer=a3c.optimizer,
                                     frames=frame_count)
    manager = tf.train.CheckpointManager(checkpoint, os.path.join(model_dir, CHECKPOINT_DIR),
                                         max_to_keep=3)
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        a3c.frames = int(frame_count.numpy())
        if verbose:
            print(f"Restored {manager.latest_checkpoint} at frame {a3c.frames}.", flush=True)

    reporter = _Reporter(frames, a3c.frames, os.path.join(model_dir, LOG_DIR), verbose)
    if a3c.frames < frames:
        a3c.train(frames, on_episode=reporter)
    reporter.close(a3c.frames)
    frame_count.assign(a3c.frames)
    manager.save(checkpoint_number=a3c.frames)
    policy_base = os.path.join(model_dir, POLICY_DIR)
    export_dir = save_policy(a3c.policy(), os.path.join(policy_base, _next_version(policy_base)))
    if verbose:
        print(f"Trained to frame {a3c.frames} of {frames}: {len(reporter.returns)} episodes, "
              f"mean return of the last {RECENT} {reporter.recent_return():.1f}.", flush=True)
        print(f"Exported the policy to {export_dir}.", flush=True)
    return a3c
