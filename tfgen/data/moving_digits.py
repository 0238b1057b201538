"""`moving_digits`: Moving-MNIST-style clips of `mnist` digits bouncing in a frame.

The protocol of Video Pixel Networks (arXiv 1610.00527, Sec. 5, after
Srivastava et al. 2015): `num_digits` 28x28 digits, drawn from the `mnist`
split of the same name (or shrunk to `digit_size` squares by area averaging,
for small test frames), move in straight lines inside a `frame_size` square
frame and bounce off its edges; where digits overlap the brighter pixel
wins. Each clip has `num_frames` frames (20: the first `CONDITIONING_FRAMES`
= 10 condition the model, the next 10 are predicted). Every choice (digits,
start positions, directions) is a function of the seed, so clips repeat. The
stream is endless (i.i.d. clips).

Elements are `{"video": float32 [num_frames, frame_size, frame_size, 1]}`,
grey levels in [0, 1]: the targets of the paper's sigmoid cross-entropy.

Options: `frame_size` (64; at least `digit_size` + 1), `num_frames` (20),
`num_digits` (2), `speed` (pixels per frame, 3.0), `digit_size` (28, the mnist
digits unchanged; 1 .. 28).
"""

import math

import tensorflow as tf

from tfgen.data import _common, mnist

NAME = "moving_digits"
CONDITIONING_FRAMES = 10  # 1610.00527 Sec. 5: 10 frames given, 10 predicted.
DIGIT = 28
SPLITS = ("train", "test")


def _check(frame_size, num_frames, num_digits, speed, digit_size):
    _common.check_int(f"digit_size of dataset {NAME!r}", digit_size, low=1, high=DIGIT)
    _common.check_int(f"frame_size of dataset {NAME!r}", frame_size, low=digit_size + 1)
    _common.check_int(f"num_frames of dataset {NAME!r}", num_frames, low=1)
    _common.check_int(f"num_digits of dataset {NAME!r}", num_digits, low=1)
    if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not speed >= 0:
        raise ValueError(f"speed of dataset {NAME!r} must be a number >= 0; got {speed!r}.")


def _info(frame_size, num_frames, num_digits, speed, digit_size):
    _check(frame_size, num_frames, num_digits, speed, digit_size)
    return _common.DatasetInfo(
        name=NAME,
        features={"video": tf.TensorSpec([num_frames, frame_size, frame_size, 1], tf.float32)},
        num_examples={split: None for split in SPLITS},
        num_levels=mnist.SOURCE.max_value + 1,
    )


def bounce(start, velocity, num_frames, limit):
    """Positions `start + velocity t` reflected into [0, limit], t = 0 .. num_frames - 1.

    Args:
      start: float `[...]` positions in [0, limit].
      velocity: float `[...]` pixels per frame.
      num_frames: int.
      limit: the largest position.

    Returns:
      float `[num_frames, ...]`.
    """
    time = tf.reshape(tf.range(num_frames, dtype=tf.float32), [-1] + [1] * len(start.shape))
    unfolded = start + velocity * time
    folded = tf.math.floormod(unfolded, 2.0 * limit)  # a period is there and back
    return limit - tf.abs(folded - limit)


def _digits(split, digit_size):
    """The grey levels in [0, 1] of the split's digits, float32 [N, digit_size, digit_size]."""
    images, _ = mnist.SOURCE.splits[split]
    images = tf.constant(images, tf.float32) / mnist.SOURCE.max_value
    # Area averaging: block means when digit_size divides 28; at 28 the digits are unchanged.
    shrunk = tf.image.resize(images, [digit_size, digit_size], method="area")
    return tf.clip_by_value(shrunk[..., 0], 0.0, 1.0)  # Rounding stays inside [0, 1].


def _render(digit, rows, cols, frame_size):
    """Each frame: `digit` [D, D] placed with its top-left corner at (rows[t], cols[t])."""
    offsets = tf.range(digit.shape[0])
    place_rows = tf.one_hot(rows[:, None] + offsets, frame_size)  # [T, D, S]
    place_cols = tf.one_hot(cols[:, None] + offsets, frame_size)
    return tf.einsum("tis,ij,tjr->tsr", place_rows, digit, place_cols)


def _make(split, *, shuffle, repeat, seed, frame_size, num_frames, num_digits, speed, digit_size):
    del shuffle, repeat  # An endless i.i.d. stream.
    images = _digits(split, digit_size)
    limit = float(frame_size - digit_size)
    split_seed = _common.base_seed(seed, NAME, split)

    def clip(index):
        digit_seed, start_seed, angle_seed = tf.unstack(
            tf.random.experimental.stateless_split(
                tf.random.experimental.stateless_fold_in(split_seed, index), 3
            )
        )
        digits = tf.random.stateless_uniform([num_digits], digit_seed, 0, images.shape[0], tf.int32)
        start = tf.random.stateless_uniform([num_digits, 2], start_seed) * limit
        angle = tf.random.stateless_uniform([num_digits], angle_seed) * 2.0 * math.pi
        velocity = speed * tf.stack([tf.sin(angle), tf.cos(angle)], -1)
        positions = tf.cast(tf.round(bounce(start, velocity, num_frames, limit)), tf.int32)
        frames = [
            _render(
                tf.gather(images, digits[d]), positions[:, d, 0], positions[:, d, 1], frame_size
            )
            for d in range(num_digits)
        ]
        return {"video": tf.reduce_max(tf.stack(frames), 0)[..., None]}

    return tf.data.Dataset.counter().map(clip, num_parallel_calls=tf.data.AUTOTUNE)


_common.register(
    NAME,
    {"frame_size": 64, "num_frames": 20, "num_digits": 2, "speed": 3.0, "digit_size": DIGIT},
    _info,
    _make,
)
