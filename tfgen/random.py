"""Seeded noise that XLA and the plain TensorFlow kernels draw identically.

Under XLA, `tf.random.stateless_categorical` and the float
`stateless_uniform`/`stateless_normal` give different numbers than the CPU
kernels, but the raw Philox bits (`stateless_uniform(dtype=tf.uint32)`) are the
same. Samplers therefore draw bits once, turn them into floats with integer
arithmetic here, and sample by inverting a CDF; a signature then returns the
same sample for the same seed whether or not it is compiled with XLA.
"""

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
      float32 tensor of `shape`; each value is `(k + 0.5) / 2**24` for a
      24-bit integer `k` taken from Philox bits.
    """
    seed = tf.convert_to_tensor(seed)
    if seed.shape.rank == 0:
        seed = seed_pair(seed)
    bits = tf.random.stateless_uniform(shape, tf.cast(seed, tf.int64), minval=None, maxval=None,
                                       dtype=tf.uint32, alg="philox")
    k = tf.cast(tf.bitwise.right_shift(bits, tf.constant(8, tf.uint32)), tf.float32)
    return (k + 0.5) * (1.0 / (1 << 24))


def categorical_from_uniform(logits, u):
    """Inverse-CDF categorical sample: the first class whose CDF exceeds `u`.

    Args:
      logits: float [..., K] unnormalised log-probabilities.
      u: float [...] uniform numbers in (0, 1).

    Returns:
      int32 [...] class indices in [0, K).
    """
    cdf = tf.cumsum(tf.nn.softmax(logits, axis=-1), axis=-1)
    threshold = u[..., None] * cdf[..., -1:]
    index = tf.reduce_sum(tf.cast(cdf <= threshold, tf.int32), axis=-1)
    return tf.minimum(index, tf.shape(logits)[-1] - 1)
