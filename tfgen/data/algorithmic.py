"""Synthetic algorithmic tasks as endless seeded streams.

Each task is a pure function of a stateless-RNG seed, mapped over
`tf.data.Dataset.counter()`: example `i` of split `s` is drawn from the seed
`(seed, task, s, i)`, so streams are reproducible, the `"train"` and `"test"`
streams differ, and the pipeline runs in parallel without Python. Examples are
i.i.d., so `shuffle` and `repeat` have nothing to do; `num_examples` is `None`.

- `parity`: ACT (Graves 2016, arXiv:1603.08983) section 3.1.
- `addition`: ACT section 3.3.
- `copy`: Neural Turing Machines (Graves et al. 2014, arXiv:1410.5401)
  section 4.1, as also used by SAM (Rae et al. 2016, arXiv:1610.09027).
"""

import tensorflow as tf

from tfgen.data import _common

SPLITS = ("train", "test")


def _split_seeds(seed, num):
    return tf.unstack(tf.random.experimental.stateless_split(seed, num))


def _uniform_int(shape, seed, low, high):
    """Ints uniform in `[low, high]` (inclusive)."""
    return tf.random.stateless_uniform(shape, seed, low, high + 1, tf.int32)


def parity_example(seed, num_bits):
    """One parity example (ACT section 3.1).

    "The input vectors had 64 elements, of which a random number from 1 to 64
    were randomly set to 1 or -1 and the rest were set to 0. The corresponding
    target was 1 if there was an odd number of ones and 0 if there was an even
    number of ones." The set entries are at random positions.

    Args:
      seed: int64 `[2]` stateless seed.
      num_bits: input size (64 in the paper).

    Returns:
      `{"inputs": float32 [num_bits], "target": int32 []}`.
    """
    count_seed, position_seed, sign_seed = _split_seeds(seed, 3)
    count = _uniform_int([], count_seed, 1, num_bits)
    positions = tf.random.experimental.stateless_shuffle(tf.range(num_bits), position_seed)
    is_set = tf.scatter_nd(positions[:, None], tf.range(num_bits) < count, [num_bits])
    signs = 2.0 * tf.cast(_uniform_int([num_bits], sign_seed, 0, 1), tf.float32) - 1.0
    inputs = tf.where(is_set, signs, 0.0)
    target = tf.reduce_sum(tf.cast(inputs > 0, tf.int32)) % 2
    return {"inputs": inputs, "target": target}


def _decimal_digits(values, width):
    """Most-significant-first digits of non-negative int64 `values` `[n]`.

    Returns int32 `[n, width]`: the digits of each value (`0` is written `"0"`),
    then the end marker 10 in the unused positions.
    """
    powers = tf.constant([10**k for k in range(width)], tf.int64)
    length = tf.maximum(tf.reduce_sum(tf.cast(values[:, None] >= powers, tf.int32), -1), 1)
    position = tf.range(width)[None, :]
    exponent = tf.maximum(length[:, None] - 1 - position, 0)
    digits = values[:, None] // tf.gather(powers, exponent) % 10
    return tf.where(position < length[:, None], tf.cast(digits, tf.int32), 10)


def addition_example(seed, num_digits, seq_len):
    """One addition example (ACT section 3.3).

    A sequence of 1 to `seq_len` numbers, each of 1 to `num_digits` decimal
    digits drawn uniformly from 0..9 (so leading zeros occur). The input at
    each step is the one-hot encodings of the number's digits, most significant
    first, in blocks of 10, the unused blocks zero. The target at each step is
    the cumulative sum written as `num_digits + 1` digit classes, most
    significant first, class 10 marking positions after the end of the number.
    "There is no target for the first vector in the sequence", so `mask` is 0
    at step 0 and after the sequence ends, 1 elsewhere; padded steps have zero
    inputs and targets 10.

    Args:
      seed: int64 `[2]` stateless seed.
      num_digits: most digits per number (5 in the paper).
      seq_len: most numbers per sequence (5 in the paper).

    Returns:
      `{"inputs": float32 [seq_len, 10 * num_digits],
        "targets": int32 [seq_len, num_digits + 1], "mask": float32 [seq_len]}`.
    """
    length_seed, size_seed, digit_seed = _split_seeds(seed, 3)
    length = _uniform_int([], length_seed, 1, seq_len)
    sizes = _uniform_int([seq_len], size_seed, 1, num_digits)
    digits = _uniform_int([seq_len, num_digits], digit_seed, 0, 9)
    in_sequence = tf.range(seq_len) < length
    used = (tf.range(num_digits)[None, :] < sizes[:, None]) & in_sequence[:, None]
    inputs = tf.one_hot(digits, 10) * tf.cast(used, tf.float32)[..., None]
    powers = tf.constant([10**k for k in range(num_digits)], tf.int64)
    place = tf.gather(powers, tf.maximum(sizes[:, None] - 1 - tf.range(num_digits)[None, :], 0))
    values = tf.reduce_sum(tf.where(used, tf.cast(digits, tf.int64) * place, 0), -1)
    targets = _decimal_digits(tf.cumsum(values), num_digits + 1)
    return {
        "inputs": tf.reshape(inputs, [seq_len, 10 * num_digits]),
        "targets": tf.where(in_sequence[:, None], targets, 10),
        "mask": tf.cast(in_sequence & (tf.range(seq_len) > 0), tf.float32),
    }


def copy_example(seed, num_bits, max_len):
    """One copy example (NTM section 4.1).

    A sequence of 1 to `max_len` random binary vectors of `num_bits` bits,
    then a delimiter flag on an extra input channel; the network must then
    output the sequence, while its input is zero. Sequences are padded to
    `2 * max_len + 1` steps; `mask` is 1 exactly on the output steps.

    Args:
      seed: int64 `[2]` stateless seed.
      num_bits: bits per vector (8 in the paper).
      max_len: longest sequence (20 in the paper).

    Returns:
      `{"inputs": float32 [T, num_bits + 1], "targets": float32 [T, num_bits],
        "mask": float32 [T]}` with `T = 2 * max_len + 1`.
    """
    steps = 2 * max_len + 1
    length_seed, bits_seed = _split_seeds(seed, 2)
    length = _uniform_int([], length_seed, 1, max_len)
    bits = tf.cast(_uniform_int([steps, num_bits], bits_seed, 0, 1), tf.float32)
    time = tf.range(steps)
    reading = time < length
    writing = (time > length) & (time <= 2 * length)
    inputs = tf.concat(
        [tf.where(reading[:, None], bits, 0.0), tf.cast(time == length, tf.float32)[:, None]], -1
    )
    copied = tf.gather(bits, tf.maximum(time - length - 1, 0))
    return {
        "inputs": inputs,
        "targets": tf.where(writing[:, None], copied, 0.0),
        "mask": tf.cast(writing, tf.float32),
    }


def _register(name, defaults, check, example_fn, features):
    """Registers task `name`: `check(options)` validates, `features(options)` specs."""

    def info(**options):
        check(**options)
        return _common.DatasetInfo(
            name=name, features=features(**options), num_examples={split: None for split in SPLITS}
        )

    def make(split, *, shuffle, repeat, seed, **options):
        del shuffle, repeat  # An endless i.i.d. stream.
        split_seed = _common.base_seed(seed, name, split)
        return tf.data.Dataset.counter().map(
            lambda index: example_fn(
                tf.random.experimental.stateless_fold_in(split_seed, index), **options
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
        )

    _common.register(name, defaults, info, make)


def _check_parity(num_bits):
    _common.check_int("num_bits of dataset 'parity'", num_bits, low=1)


def _check_addition(num_digits, seq_len):
    _common.check_int("num_digits of dataset 'addition'", num_digits, 1, 17)
    _common.check_int("seq_len of dataset 'addition'", seq_len, low=1)
    if seq_len * (10**num_digits - 1) >= 10 ** (num_digits + 1):
        raise ValueError(
            f"seq_len * (10**num_digits - 1) of dataset 'addition' must be below "
            f"10**(num_digits + 1), so that sums fit in num_digits + 1 digits; "
            f"got seq_len={seq_len!r}, num_digits={num_digits!r}."
        )


def _check_copy(num_bits, max_len):
    _common.check_int("num_bits of dataset 'copy'", num_bits, low=1)
    _common.check_int("max_len of dataset 'copy'", max_len, low=1)


_register(
    "parity",
    {"num_bits": 64},
    _check_parity,
    parity_example,
    lambda num_bits: {
        "inputs": tf.TensorSpec([num_bits], tf.float32),
        "target": tf.TensorSpec([], tf.int32),
    },
)
_register(
    "addition",
    {"num_digits": 5, "seq_len": 5},
    _check_addition,
    addition_example,
    lambda num_digits, seq_len: {
        "inputs": tf.TensorSpec([seq_len, 10 * num_digits], tf.float32),
        "targets": tf.TensorSpec([seq_len, num_digits + 1], tf.int32),
        "mask": tf.TensorSpec([seq_len], tf.float32),
    },
)
_register(
    "copy",
    {"num_bits": 8, "max_len": 10},
    _check_copy,
    copy_example,
    lambda num_bits, max_len: {
        "inputs": tf.TensorSpec([2 * max_len + 1, num_bits + 1], tf.float32),
        "targets": tf.TensorSpec([2 * max_len + 1, num_bits], tf.float32),
        "mask": tf.TensorSpec([2 * max_len + 1], tf.float32),
    },
)
