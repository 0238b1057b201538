"""Seeded noise that XLA and the plain TensorFlow kernels draw identically.

Under XLA, `tf.random.stateless_categorical` and the float
`stateless_uniform`/`stateless_normal` give different numbers than the CPU
kernels, but the raw Philox bits (`stateless_uniform(dtype=tf.uint32)`) are the
same. Samplers therefore draw bits once, turn them into floats with integer
arithmetic here, and sample by inverting a CDF; a signature then returns the
same sample for the same seed whether or not it is compiled with XLA.
"""

import math

import tensorflow as tf

_SEED_SALT = 0x5EED


def seed_pair(seed):
    """An int64 `[2]` stateless seed from a scalar int `seed`."""
    seed = tf.cast(seed, tf.int64)
    return tf.stack([seed, tf.bitwise.bitwise_xor(seed, tf.constant(_SEED_SALT, tf.int64))])


def uniform_from_seed(shape, seed):
    """Uniform floats in the open interval (0, 1), identical with and without XLA.

    Args:
      shape: int32 shape (list or 1-D tensor).
      seed: scalar int (any integer dtype) or an int64 `[2]` stateless seed.

    Returns:
      float32 tensor of `shape`; each value is `(k + 0.5) / 2**23` for a
      23-bit integer `k` taken from Philox bits, so it lies in
      [2**-24, 1 - 2**-24], which float32 represents exactly (24 bits would
      round the top value to 1.0).
    """
    seed = tf.convert_to_tensor(seed)
    if seed.shape.rank == 0:
        seed = seed_pair(seed)
    bits = tf.random.stateless_uniform(
        shape, tf.cast(seed, tf.int64), minval=None, maxval=None, dtype=tf.uint32, alg="philox"
    )
    k = tf.cast(tf.bitwise.right_shift(bits, tf.constant(9, tf.uint32)), tf.float32)
    return (k + 0.5) * (1.0 / (1 << 23))


def stream_seed(seed, stream):
    """The int64 `[2]` stateless seed of stream `stream` (int or int tensor) of scalar `seed`.

    Different streams of one seed give independent noise, e.g. one stream per
    sampling step.
    """
    return tf.stack([tf.cast(seed, tf.int64), tf.cast(stream, tf.int64)])


def normal_from_seed(shape, seed, dtype=tf.float32):
    """Standard normal floats, identical with and without XLA (up to float rounding).

    Box-Muller on two `uniform_from_seed` draws: `sqrt(-2 ln u1) cos(2 pi u2)`.

    Args:
      shape: int32 shape (list or 1-D tensor).
      seed: scalar int or an int64 `[2]` stateless seed.
      dtype: float dtype of the result.

    Returns:
      Tensor of `shape` and `dtype`.
    """
    shape = tf.convert_to_tensor(shape, tf.int32)
    u = tf.cast(uniform_from_seed(tf.concat([[2], shape], axis=0), seed), dtype)
    return tf.sqrt(-2.0 * tf.math.log(u[0])) * tf.cos((2.0 * math.pi) * u[1])


def categorical_from_probs(probs, u):
    """Inverse-CDF categorical sample: the first class whose CDF exceeds `u`.

    Args:
      probs: float [..., K] probabilities (normalised up to a constant), K static.
      u: float [...] uniform numbers in (0, 1).

    Returns:
      int32 [...] class indices in [0, K).
    """
    cdf = cumulative_probs(probs)
    index = tf.reduce_sum(tf.cast(cdf <= u[..., None] * cdf[..., -1:], tf.int32), axis=-1)
    return tf.minimum(index, probs.shape[-1] - 1)


def cumulative_probs(probs):
    """cdf_j = sum_{k <= j} p_k along the last axis, as two small matrix products.

    The K classes are cut into blocks of b = ceil(sqrt(K)): a product with b x b
    upper-triangular ones sums within each block, a second one over the block totals.
    XLA on CPU lowers a K-long `tf.cumsum` to a reduce-window of K^2 additions per row
    (the slowest part of a compiled sampling step for K = 256); this is 2 K b
    multiply-adds at matmul speed, and agrees with `tf.cumsum` up to float rounding.

    Args:
      probs: float [..., K], K known statically.

    Returns:
      float [..., K], the running sums.

    Example:

    >>> cdf = cumulative_probs(tf.constant([[0.1, 0.2, 0.3, 0.4, 0.0]]))
    >>> [round(float(c), 6) for c in cdf[0]]
    [0.1, 0.3, 0.6, 1.0, 1.0]
    """
    size = probs.shape[-1]
    if size is None:
        raise ValueError(
            f"cumulative_probs: expected a static number of classes, got {probs.shape}."
        )
    block = math.isqrt(size - 1) + 1
    upper = tf.linalg.band_part(tf.ones([block, block], probs.dtype), 0, -1)
    rows = tf.pad(tf.reshape(probs, [-1, size]), [[0, 0], [0, block * block - size]])
    within = tf.reshape(tf.matmul(tf.reshape(rows, [-1, block]), upper), [-1, block, block])
    totals = within[:, :, -1]
    before = tf.matmul(totals, upper) - totals  # the mass of the blocks to the left
    cdf = tf.reshape(within + before[:, :, None], [-1, block * block])[:, :size]
    return tf.reshape(cdf, tf.shape(probs))


def categorical_from_uniform(logits, u):
    """Inverse-CDF categorical sample: the first class whose CDF exceeds `u`.

    Args:
      logits: float [..., K] unnormalised log-probabilities.
      u: float [...] uniform numbers in (0, 1).

    Returns:
      int32 [...] class indices in [0, K).
    """
    return categorical_from_probs(tf.nn.softmax(logits, axis=-1), u)
