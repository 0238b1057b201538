"""`python -m training --model NAME` for the registered RL agents (`kind == "agent"`).

    python -m training --model a3c [--env CartPole-v1] --threads 4 --steps 100000 \
        --model_dir /tmp/a3c [--hparams t_max=20,lstm_size=64] [--hparams noisy=True]

The agent is found by name in `tfgen.registry`; its hyper-parameters are its
constructor's keyword defaults (`registry.get(NAME).hparams`) updated by
`--hparams`, and `--env` defaults to the entry's environment (its `dataset`).
`--steps` counts environment frames over all `--threads` actor-learners (for
A3C the shared counter `T` of arXiv 1602.01783, Algorithm S3). A run lives in
a `tfgen.run_dir.RunDir`:

    model_dir/config.json     model, env, threads, seed, hparams
    model_dir/checkpoints/    the agent's `checkpoint_items()` and the frame count
    model_dir/logs/           TensorBoard: `episode_return` against frames
    model_dir/export/<N>/     the greedy policy (PolicySaver + `serving_default`),
                              one servable version per run, N the next integer

A run started again with the same flags restores its checkpoint and continues
from its frame count (environments and LSTM states start afresh).

An agent class registered with `kind="agent"` provides:

* `__init__(env, num_threads=..., seed=..., **hparams)`;
* `frames`, the environment frames taken so far (restored on resume);
* `train(frames, on_episode)`, acting and learning until `frames`, calling
  `on_episode(frame, episode_return)` after each finished episode;
* `checkpoint_items()`, `{name: trackable}` of the state to checkpoint;
* `policy()`, a tf-agents `TFPolicy` with an action distribution.
"""

import os

import numpy as np
import tensorflow as tf

RECENT = 10  # Episodes averaged in the progress bar.


class _Reporter:
    """The progress bar (episodes, recent return) and TensorBoard summaries."""

    def __init__(self, frames, start, log_dir, verbose):
        self.writer = tf.summary.create_file_writer(log_dir)
        self.returns = []
        self.progbar = tf.keras.utils.Progbar(
            frames,
            stateful_metrics=["episodes", "return"],
            unit_name="frame",
            interval=0.5,
            verbose=verbose,
        )
        self.progbar.update(start)

    def recent_return(self):
        return float(np.mean(self.returns[-RECENT:])) if self.returns else float("nan")

    def __call__(self, frame, episode_return):
        self.returns.append(episode_return)
        with self.writer.as_default():
            tf.summary.scalar("episode_return", episode_return, step=frame)
        self.progbar.update(
            frame, [("episodes", len(self.returns)), ("return", self.recent_return())]
        )

    def close(self, frame):
        self.progbar.update(
            frame,
            [("episodes", len(self.returns)), ("return", self.recent_return())],
            finalize=True,
        )
        self.writer.flush()


def serving_policy(agent):
    """The policy a run exports: the agent's policy acting greedily (its distribution's mode).

    Greedy, so that a served policy answers the same action for the same
    observation (the agent's own policy samples from `pi(.|s)`).
    """
    from tf_agents.policies import greedy_policy

    return greedy_policy.GreedyPolicy(agent.policy())


def resolve_hparams(name, hparams=None, learning_rate=None):
    """Agent `name`'s hyper-parameters: its defaults, then `hparams`, then `learning_rate`.

    Raises:
      ValueError: if `name` is not a registered agent, or on an unknown key.
      TypeError: on a value whose type does not match its default's.
    """
    from tfgen import hparams as hparams_lib
    from tfgen import registry

    entry = registry.get(name)
    if entry.kind != registry.AGENT:
        raise ValueError(f"Expected a registered agent, got {entry.kind} {name!r}.")
    resolved = registry.resolve_hparams(name, hparams)
    if learning_rate is not None:
        resolved = hparams_lib.resolve(resolved, {"learning_rate": learning_rate})
    return resolved


def train_agent(
    name,
    env=None,
    *,
    threads=1,
    frames,
    model_dir,
    hparams=None,
    seed=0,
    learning_rate=None,
    verbose=1,
):
    """Trains agent `name` with `threads` actor-learners for `frames` frames, resuming if possible.

    Args:
      name: a registered agent (`tfgen.registry.get(name).kind == "agent"`).
      env: a `suite_gym` environment name; None for the entry's default.
      threads: number of actor-learners.
      frames: total environment frames of the run (including earlier runs).
      model_dir: the run directory (see the module docstring).
      hparams: overrides of the agent's defaults, a dict or a `"key=value,..."` string.
      seed: seeds networks, environments and noise.
      learning_rate: if not None, overrides the `learning_rate` hyper-parameter.
      verbose: 1 for the progress bar, 0 for none.

    Returns:
      `(agent, export_dir)`: the trained agent and the policy's SavedModel
      version directory `model_dir/export/<N>`.
    """
    from export.saved_model import next_version  # training is the top layer; it may.
    from tfgen import hparams as hparams_lib
    from tfgen import registry
    from tfgen.rl.a2c_agent import save_policy
    from tfgen.run_dir import RunDir

    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
        raise ValueError(f"frames: expected a positive int, got {frames!r}.")
    entry = registry.get(name)
    resolved = resolve_hparams(name, hparams, learning_rate)
    env = env or entry.dataset
    run = RunDir(model_dir)
    run.write_config(
        hparams_lib.to_json(
            {"model": name, "env": env, "threads": threads, "seed": seed, "hparams": resolved}
        )
    )

    agent = entry.model_class(env, num_threads=threads, seed=seed, **resolved)
    frame_count = tf.Variable(0, dtype=tf.int64, trainable=False, name="frames")
    checkpoint = tf.train.Checkpoint(**agent.checkpoint_items(), frames=frame_count)
    manager = run.checkpoint_manager(checkpoint)
    latest = run.latest_checkpoint()
    if latest:
        checkpoint.restore(latest).assert_existing_objects_matched()
        agent.frames = int(frame_count.numpy())
        if verbose:
            print(f"Restored {latest} at frame {agent.frames}.", flush=True)

    reporter = _Reporter(frames, agent.frames, run.log_dir, verbose)
    if agent.frames < frames:
        agent.train(frames, on_episode=reporter)
    reporter.close(agent.frames)
    frame_count.assign(agent.frames)
    manager.save(checkpoint_number=agent.frames)
    export_dir = save_policy(
        serving_policy(agent),
        os.path.join(run.export_base, str(next_version(run.export_base))),
        train_step=frame_count,
    )
    if verbose:
        print(
            f"Trained to frame {agent.frames} of {frames}: {len(reporter.returns)} episodes, "
            f"mean return of the last {RECENT} {reporter.recent_return():.1f}.",
            flush=True,
        )
        print(f"Exported the policy to {export_dir}.", flush=True)
    return agent, export_dir
