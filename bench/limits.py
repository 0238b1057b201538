"""This machine's own limits, measured in the same run as the table they stand beside.

Speed tables report ratios against these numbers, so that a reader on another machine (CPUs
differ by 3x) can see what fraction of the hardware a model reaches:

- `matmul_flops_per_second`: dense throughput, one large matrix product (fp32 or bf16);
- `matvec_flops_per_second`: batch-1 latency-bound throughput, a dependent chain of
  vector-matrix products in one compiled loop, the shape of autoregressive generation at batch 1;
- `copy_bytes_per_second`: memory bandwidth, a large NumPy copy.

`limits_table()` measures all of them and returns a markdown table; `python -m bench.limits`
prints it.
"""

import numpy as np
import tensorflow as tf
from absl import app

from bench import results


def matmul_flops_per_second(size=2048, dtype=tf.float32, repeats=5):
    """FLOP/s of one `size` x `size` matrix product in `dtype`.

    The best of `repeats` timed calls (after a warm-up) of a graph that multiplies two random
    matrices, counting 2 size^3 FLOPs: the machine's dense throughput.
    """
    a = tf.cast(tf.random.stateless_normal([size, size], [0, 1]), dtype)
    b = tf.cast(tf.random.stateless_normal([size, size], [2, 3]), dtype)
    product = tf.function(lambda: tf.reduce_sum(tf.cast(tf.matmul(a, b), tf.float32)))
    return 2.0 * size**3 / float(results.time_calls(lambda: product().numpy(), repeats).min())


def matvec_flops_per_second(size=128, steps=4096, dtype=tf.float32, repeats=3):
    """FLOP/s of a chain of `steps` batch-1 products `v <- tanh(v W)`, `W` `size` x `size`.

    Each product needs the one before it, as each sample of an autoregressive model needs the
    last, so this is the most that a batch-1 generation loop of that width can reach here: one
    XLA-compiled `tf.while_loop`, counting 2 size^2 FLOPs per step.
    """
    weights = tf.cast(tf.random.stateless_normal([size, size], [4, 5]) / size**0.5, dtype)
    start = tf.cast(tf.random.stateless_normal([1, size], [6, 7]), dtype)

    @tf.function(jit_compile=True)
    def chain():
        body = lambda t, v: (t + 1, tf.tanh(tf.matmul(v, weights)))  # noqa: E731
        return tf.while_loop(lambda t, v: t < steps, body, (0, start))[1]

    seconds = float(results.time_calls(lambda: chain().numpy(), repeats).min())
    return 2.0 * size**2 * steps / seconds


def copy_bytes_per_second(mebibytes=512, repeats=3):
    """Bytes per second (read + written) of a NumPy copy of `mebibytes` MiB, best of `repeats`."""
    source = np.ones(mebibytes * 2**20 // 8)
    target = np.empty_like(source)
    seconds = results.time_calls(lambda: np.copyto(target, source), repeats)
    return 2 * source.nbytes / float(seconds.min())


def measure(tiny=False):
    """All the limits as a dict of floats (FLOP/s, bytes/s); `tiny`: small sizes, a smoke run."""
    size, width, mebibytes, steps = (256, 32, 8, 64) if tiny else (2048, 128, 512, 4096)
    return {
        "matmul_size": size,
        "matvec_size": width,
        "copy_mib": mebibytes,
        "fp32_matmul": matmul_flops_per_second(size, tf.float32),
        "bf16_matmul": matmul_flops_per_second(size, tf.bfloat16),
        "fp32_matvec": matvec_flops_per_second(width, steps),
        "copy": copy_bytes_per_second(mebibytes),
    }


def limits_table(limits):
    """A markdown table of `measure()`'s numbers, to print beside a bench's own table."""
    size, width = limits["matmul_size"], limits["matvec_size"]
    bf16_ratio = limits["bf16_matmul"] / limits["fp32_matmul"]
    rows = [
        (f"fp32 matrix product, {size}^2", f"{limits['fp32_matmul'] / 1e9:.1f} GFLOP/s"),
        (
            f"bf16 matrix product, {size}^2",
            f"{limits['bf16_matmul'] / 1e9:.1f} GFLOP/s ({bf16_ratio:.2f}x fp32)",
        ),
        (
            f"fp32 batch-1 vector-matrix chain, {width}^2 (XLA loop)",
            f"{limits['fp32_matvec'] / 1e9:.2f} GFLOP/s",
        ),
        (
            f"NumPy copy, {limits['copy_mib']} MiB (read + written)",
            f"{limits['copy'] / 1e9:.1f} GB/s",
        ),
    ]
    return (
        f"This machine's limits, measured in the same run ({results.machine()}):\n\n"
        + results.markdown_table(("limit", "measured"), rows)
    )


def main(argv):
    del argv
    print(limits_table(measure(tiny=results.FLAGS.tiny)))


if __name__ == "__main__":
    app.run(main)
