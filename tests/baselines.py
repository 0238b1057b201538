"""Trivial baselines that a trained model must beat (a model worse than these is a bug)."""

import numpy as np


def independent_pixel_nats(train, test):
    """Nats per test image of per-pixel Bernoulli frequencies fitted on `train` (Laplace smoothed).

    Args:
      train: binary array [N, ...] of training images.
      test: binary array [M, ...] of test images, the same shape per image.

    Returns:
      float, the mean over the M test images of -sum_pixels log p(pixel).
    """
    p = (train.reshape(len(train), -1).sum(0) + 1.0) / (len(train) + 2.0)
    x = test.reshape(len(test), -1)
    return float(-np.mean(np.sum(x * np.log(p) + (1 - x) * np.log1p(-p), axis=1)))
