"""A3C on CartPole-v1 with 1, 2 and 4 actor-learner threads: return against frames and time.

    python bench/a3c.py [--frames 40000] [--seeds 0,1]

Prints a markdown table (mean episode return in frame windows, frames per
second, wall-clock) for the lead to place in docs/RESULTS.md. The learners
are Python threads sharing TensorFlow variables; on a 2-core machine more than
two threads mainly interleave, so the comparison is of data efficiency (return
per frame) as much as of wall-clock speed.
"""

import argparse
import itertools
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.results import machine, markdown_table
from tfgen.rl.a3c import A3C


def run(threads, frames, seed, windows):
    a3c = A3C("CartPole-v1", num_threads=threads, fc_layer_params=(64,), learning_rate=3e-3,
              seed=seed)
    start = time.perf_counter()
    history = a3c.train(frames)
    seconds = time.perf_counter() - start
    frame_of, returns = np.array([h[0] for h in history]), np.array([h[1] for h in history])
    means = []
    for low, high in itertools.pairwise(windows):
        mask = (frame_of > low) & (frame_of <= high)
        means.append(float(returns[mask].mean()) if mask.any() else float("nan"))
    return means, seconds, a3c.frames / seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=40_000)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--threads", default="1,2,4")
    args = parser.parse_args()
    windows = np.linspace(0, args.frames, 5).astype(int)
    header = (["threads", "seed"] + [f"return {lo // 1000}-{hi // 1000}k"
                                     for lo, hi in itertools.pairwise(windows)]
              + ["frames/s", "wall-clock s"])
    rows = []
    for threads in (int(t) for t in args.threads.split(",")):
        for seed in (int(s) for s in args.seeds.split(",")):
            means, seconds, fps = run(threads, args.frames, seed, windows)
            rows.append([threads, seed] + [f"{m:.1f}" for m in means]
                        + [f"{fps:.0f}", f"{seconds:.1f}"])
            print(rows[-1], flush=True)
    print(f"\nA3C, CartPole-v1, {args.frames} frames, t_max=5, fc 64, "
          f"shared RMSProp lr 3e-3 annealed; {machine()}\n")
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
