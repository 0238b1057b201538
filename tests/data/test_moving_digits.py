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


def _numpy_area_shrink(images, factor):
    """Block means of `factor` x `factor` squares: area averaging by a whole factor."""
    n, size, _ = images.shape
    blocks = images.reshape(n, size // factor, factor, size // factor, factor)
    return blocks.mean((2, 4))


def _corners_of(frame, digits):
    """The corners (r, c) where `frame` holds one of `digits` [N, D, D] and nothing else."""
    size, digit_size = frame.shape[0], digits.shape[1]
    found = []
    for r in range(size - digit_size + 1):
        for c in range(size - digit_size + 1):
            crop = frame[r : r + digit_size, c : c + digit_size]
            alone = np.isclose(crop.sum(), frame.sum())
            if alone and np.abs(digits - crop).max((1, 2)).min() < 1e-6:
                found.append((r, c))
    return found


@pytest.mark.parametrize("digit_size, factor", [(7, 4), (14, 2)])
def test_small_digits_are_the_splits_digits_shrunk_by_area(digit_size, factor):
    frame_size = digit_size + 3
    options = dict(frame_size=frame_size, num_frames=6, num_digits=1, digit_size=digit_size)
    video = _clips(size=4, split="test", **options)[..., 0]
    assert video.shape == (4, 6, frame_size, frame_size)
    images, _ = mnist.SOURCE.splits["test"]
    shrunk = _numpy_area_shrink(images[..., 0] / 255.0, factor)
    moved = 0
    for clip in video:
        corners = [_corners_of(frame, shrunk) for frame in clip]
        assert all(corners), "expected a shrunk digit of the split, alone in every frame"
        moved += not set(corners[0]) & set(corners[-1])
    assert moved > 0  # the digits move inside the small frames


def test_shrunk_grey_levels_stay_in_zero_one():
    """Area averaging to a size that does not divide 28 rounds a little above 1 without a clip."""
    video = _clips(size=128, frame_size=22, num_frames=1, digit_size=21)
    assert video.min() == 0.0 and video.max() == 1.0


def test_default_digit_size_is_the_full_mnist_digit():
    assert data.info("moving_digits").features == data.info("moving_digits", digit_size=28).features
    options = dict(frame_size=30, num_frames=3, num_digits=1)
    np.testing.assert_array_equal(_clips(**options), _clips(digit_size=28, **options))
    assert data.info("moving_digits", frame_size=8, digit_size=7).features["video"].shape == (
        20,
        8,
        8,
        1,
    )


def test_options_are_checked():
    with pytest.raises(ValueError, match="frame_size of dataset 'moving_digits'"):
        data.info("moving_digits", frame_size=28)
    with pytest.raises(ValueError, match="speed of dataset 'moving_digits'"):
        data.info("moving_digits", speed=-1.0)
    with pytest.raises(ValueError, match="num_digits"):
        data.info("moving_digits", num_digits=0)
    with pytest.raises(ValueError, match=r"frame_size .* must be an int >= 8; got 7"):
        data.info("moving_digits", frame_size=7, digit_size=7)
    for digit_size in (0, 29, 7.0):
        with pytest.raises(
            ValueError, match=f"digit_size of dataset 'moving_digits'.*{digit_size}"
        ):
            data.info("moving_digits", frame_size=40, digit_size=digit_size)
