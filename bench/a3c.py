"""A3C on CartPole-v1 with 1, 2 and 4 actor-learner threads: return against frames and time.

    python -m bench.a3c [--frames 40000] [--seeds 0,1]
    python -m bench.a3c --tiny   # 400 frames, 1 and 2 threads, one seed: a smoke run

Writes a markdown table (mean episode return in frame windows, frames per
second, wall-clock) into docs/RESULTS.md (unless `--nowrite`). The learners
are Python threads sharing TensorFlow variables; on a 2-core machine more than
two threads mainly interleave, so the comparison is of data efficiency (return
per frame) as much as of wall-clock speed.
"""

import itertools
import time

import numpy as np
from absl import app, flags

from bench import results
from tfgen.rl.a3c import A3C

FLAGS = flags.FLAGS
flags.DEFINE_integer("frames", 40_000, "Environment frames per run.")
flags.DEFINE_list("seeds", ["0", "1"], "Seeds of the runs.")
flags.DEFINE_list("threads", ["1", "2", "4"], "Numbers of actor-learner threads.")


def run(threads, frames, seed, windows):
    a3c = A3C(
        "CartPole-v1", num_threads=threads, fc_layer_params=(64,), learning_rate=3e-3, seed=seed
    )
    start = time.perf_counter()
    history = a3c.train(frames)
    seconds = time.perf_counter() - start
    frame_of, returns = np.array([h[0] for h in history]), np.array([h[1] for h in history])
    means = []
    for low, high in itertools.pairwise(windows):
        mask = (frame_of > low) & (frame_of <= high)
        means.append(float(returns[mask].mean()) if mask.any() else float("nan"))
    return means, seconds, a3c.frames / seconds


def _thousands(frames):
    """Frames in thousands for a column label: whole thousands, but 0.1 (not 0) for 100."""
    return f"{frames // 1000}" if frames % 1000 == 0 or frames > 10_000 else f"{frames / 1000:g}"


def main(argv):
    del argv
    results.tiny_defaults(frames=400, seeds=["0"], threads=["1", "2"])
    windows = np.linspace(0, FLAGS.frames, 5).astype(int)
    header = (
        ["threads", "seed"]
        + [f"return {_thousands(lo)}-{_thousands(hi)}k" for lo, hi in itertools.pairwise(windows)]
        + ["frames/s", "wall-clock s"]
    )
    rows = []
    for threads in map(int, FLAGS.threads):
        for seed in map(int, FLAGS.seeds):
            means, seconds, fps = run(threads, FLAGS.frames, seed, windows)
            rows.append(
                [threads, seed] + [f"{m:.1f}" for m in means] + [f"{fps:.0f}", f"{seconds:.1f}"]
            )
            print(rows[-1], flush=True)
    text = (
        f"A3C, CartPole-v1, {FLAGS.frames} frames per run, t_max=5, one hidden layer of 64, "
        f"shared RMSProp lr 3e-3 annealed to 0, critic weight 1 (the gradient of (R - V)^2, "
        f"Algorithm S3), entropy 0.01; mean episode return of the episodes "
        f"that end in each frame window; {results.machine()}.\n\n"
    )
    results.write_block("a3c", text + results.markdown_table(header, rows))


if __name__ == "__main__":
    app.run(main)
