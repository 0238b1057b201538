"""Tests of `moving_digits` (arXiv 1610.00527 Sec. 5) against NumPy bouncing and mnist."""

import numpy as np
import pytest
import tensorflow as tf

from tfgen import data
from tfgen.data import mnist, moving_digits


def _clips(size=8, split="train", seed=0, **options):
    dataset = data.load("moving_digits", split, batch_size=size, seed=seed, **options)
    return next(iter(dataset))["video"].numpy()


def _numpy_bounce(start, velocity, num_frames, limit):
    """Step by step: move, and mirror position and velocity at a wall."""
    position, velocity, path = float(start), float(velocity), []
    for _ in range(num_frames):
        path.append(position)
        position += velocity
        if position < 0:
            position, velocity = -position, -velocity
        elif position > limit:
            position, velocity = 2 * limit - position, -velocity
    return np.array(path)


def test_bounce_matches_a_step_by_step_reference():
    rng = np.random.default_rng(0)
    start = rng.uniform(0, 36, size=50).astype(np.float32)
    velocity = rng.uniform(-5, 5, size=50).astype(np.float32)
    paths = moving_digits.bounce(tf.constant(start), tf.constant(velocity), 40, 36.0).numpy()
    expected = np.stack([_numpy_bounce(s, v, 40, 36.0) for s, v in zip(start, velocity)], 1)
    np.testing.assert_allclose(paths, expected, atol=1e-3)


def test_clips_have_the_papers_shape_and_grey_levels():
    video = _clips(size=2)
    assert video.shape == (2, 20, 64, 64, 1) and video.dtype == np.float32
    assert video.min() == 0.0 and video.max() == 1.0
    assert moving_digits.CONDITIONING_FRAMES == 10
    assert data.info("moving_digits").features["video"].shape == (20, 64, 64, 1)
    np.testing.assert_array_equal(_clips(seed=3), _clips(seed=3))
    assert not np.array_equal(_clips(seed=3), _clips(seed=4))
    assert not np.array_equal(_clips(split="train"), _clips(split="test"))


@pytest.mark.parametrize("split", ["train", "test"])
def test_one_digit_of_the_split_moves_at_the_set_speed(split):
    video = _clips(size=6, split=split, frame_size=40, num_frames=12, num_digits=1, speed=2.0)[
        ..., 0
    ]
    images, _ = mnist.SOURCE.splits[split]
    pool = {tuple(np.sort(im[im > 0])) for im in images[..., 0].astype(int)}
    for clip in video:
        raw = np.round(clip * 255).astype(int)  # back to mnist's raw levels
        values = [tuple(np.sort(frame[frame > 0])) for frame in raw]
        assert len(set(values)) == 1  # the same digit, only translated, in every frame
        assert values[0] in pool  # an image of this split of mnist
        mass = clip.sum((1, 2))
        rows, cols = np.indices(clip.shape[1:])
        centre = (
            np.stack([(clip * rows).sum((1, 2)), (clip * cols).sum((1, 2))], -1) / mass[:, None]
        )
        steps = np.linalg.norm(np.diff(centre, axis=0), axis=-1)
        assert steps.max() <= 2.0 + np.sqrt(2) + 1e-4  # speed, plus rounding to whole pixels
        assert steps.mean() > 1.0


def test_overlapping_digits_keep_the_brighter_pixel():
    """Two digits: each frame is at least as bright as either digit alone could make it."""
    video = _clips(size=4, frame_size=32, num_frames=5)
    assert video.shape == (4, 5, 32, 32, 1)
    total = (video > 0).sum((2, 3, 4))
    one = _clips(size=4, frame_size=32, num_frames=5, num_digits=1)
    assert video.max() <= 1.0 and (total > 0).all()
    assert total.mean() > (one > 0).sum((2, 3, 4)).mean()  # two digits cover more pixels


def test_options_are_checked():
    with pytest.raises(ValueError, match="frame_size of dataset 'moving_digits'"):
        data.info("moving_digits", frame_size=28)
    with pytest.raises(ValueError, match="speed of dataset 'moving_digits'"):
        data.info("moving_digits", speed=-1.0)
    with pytest.raises(ValueError, match="num_digits"):
        data.info("moving_digits", num_digits=0)
