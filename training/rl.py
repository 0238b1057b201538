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
    model_dir/checkpoints/    the agent's `checkpoint_items()`, the frame count and the
                              config, every `checkpoint_every` frames and at the end
    model_dir/logs/           TensorBoard: `episode_return` against frames
    model_dir/export/<N>/     the greedy policy (PolicySaver + `serving_default`),
                              one servable version per run, N the next integer

A run started again with the same flags restores its newest whole checkpoint
and continues from its frame count (environments and LSTM states start afresh),
so a run killed at any point ends at `--steps` frames (with one learner thread,
exactly, and with as many updates as an uninterrupted run).

An agent class registered with `kind="agent"` provides:

* `__init__(env, num_threads=..., seed=..., **hparams)`;
* `frames`, the environment frames taken so far (restored on resume);
* `train(frames, on_episode, on_update)`, acting and learning until `frames`,
  calling `on_episode(frame, episode_return)` after each finished episode and
  `on_update(frame)` after each update of the parameters;
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


class _Checkpointer:
    """`on_update`: saves when the frame count passes a multiple of `every`; `save` at the end."""

    def __init__(self, manager, frame_count, every):
        self.manager, self.frame_count, self.every = manager, frame_count, every
        self.saved = int(frame_count.numpy()) if manager.latest_checkpoint else None

    def __call__(self, frame):
        if self.saved is None or frame // self.every > self.saved // self.every:
            self.save(frame)

    def save(self, frame):
        if frame != self.saved:
            self.frame_count.assign(frame)
            self.manager.save(checkpoint_number=frame)
            self.saved = frame


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
    checkpoint_every=100,
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
      checkpoint_every: frames between checkpoints (one is also written at the end).
      verbose: 1 for the progress bar, 0 for none.

    Returns:
      `(agent, export_dir)`: the trained agent and the policy's SavedModel
      version directory `model_dir/export/<N>`.
    """
    from export.saved_model import next_version  # training is the top layer; it may.
    from tfgen import hparams as hparams_lib
    from tfgen import registry, run_dir
    from tfgen.checks import check_int
    from tfgen.rl.a2c_agent import save_policy
    from tfgen.run_dir import RunDir

    check_int(frames, "frames")
    check_int(checkpoint_every, "checkpoint_every")
    entry = registry.get(name)
    resolved = resolve_hparams(name, hparams, learning_rate)
    env = env or entry.dataset
    run = RunDir(model_dir)
    config = hparams_lib.to_json(
        {"model": name, "env": env, "threads": threads, "seed": seed, "hparams": resolved}
    )
    run.write_config(config)

    agent = entry.model_class(env, num_threads=threads, seed=seed, **resolved)
    frame_count = tf.Variable(0, dtype=tf.int64, trainable=False, name="frames")
    trackables = {**agent.checkpoint_items(), "frames": frame_count}
    manager = run.checkpoint_manager(run_dir.training_checkpoint(config, **trackables))
    latest = run.restore_latest(config, **trackables)
    checkpointer = _Checkpointer(manager, frame_count, checkpoint_every)
    if latest:
        agent.frames = int(frame_count.numpy())
        if verbose:
            print(f"Restored {latest} at frame {agent.frames}.", flush=True)

    reporter = _Reporter(frames, agent.frames, run.log_dir, verbose)
    if agent.frames < frames:
        agent.train(frames, on_episode=reporter, on_update=checkpointer)
    reporter.close(agent.frames)
    checkpointer.save(agent.frames)
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
