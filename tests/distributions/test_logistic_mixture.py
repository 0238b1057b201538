"""DiscretizedLogisticMixture against a NumPy/SciPy reference (PixelCNN++ Sec. 2.1)."""

import numpy as np
import pytest
import tensorflow as tf
from scipy import special, stats

from tfgen.distributions import DiscretizedLogisticMixture


def _reference_log_prob(x, logits, locs, log_scales, num_levels):
    """log P(bin of x) in float64, from the definition: mixture of logistic CDF masses."""
    weights = special.softmax(logits.astype(np.float64), axis=-1)
    half = 1.0 / (num_levels - 1)
    centre = np.round((x + 1) / (2 * half)) * 2 * half - 1
    scales = np.exp(log_scales.astype(np.float64))

    def cdf(v):
        return stats.logistic.cdf(v, loc=locs, scale=scales)

    upper = np.where(centre[..., None] >= 1 - half / 2, 1.0, cdf(centre[..., None] + half))
    lower = np.where(centre[..., None] <= -1 + half / 2, 0.0, cdf(centre[..., None] - half))
    return np.log(np.sum(weights * (upper - lower), axis=-1))


def _params(batch, k, seed, scale_range=(-4.0, 0.0)):
    rng = np.random.RandomState(seed)
    return (
        rng.randn(batch, k).astype(np.float32),
        rng.uniform(-1.2, 1.2, (batch, k)).astype(np.float32),
        rng.uniform(*scale_range, (batch, k)).astype(np.float32),
    )


@pytest.mark.parametrize("num_levels", [256, 16])
def test_log_prob_matches_reference_including_edge_bins(num_levels):
    logits, locs, log_scales = _params(64, 5, seed=num_levels)
    dist = DiscretizedLogisticMixture(logits, locs, log_scales, num_levels=num_levels)
    bins = np.random.RandomState(1).randint(0, num_levels, 64)
    bins[:8], bins[8:16] = 0, num_levels - 1  # the edge bins
    x = (bins * 2.0 / (num_levels - 1) - 1).astype(np.float32)
    expected = _reference_log_prob(x, logits, locs, log_scales, num_levels)
    np.testing.assert_allclose(dist.log_prob(x).numpy(), expected, rtol=1e-4, atol=1e-4)


def test_bin_probabilities_sum_to_one_and_edges_hold_the_tails():
    logits, locs, log_scales = _params(3, 4, seed=0)
    locs[0] = -3.0  # Most mass below -1: the first bin takes it.
    locs[1] = 3.0
    dist = DiscretizedLogisticMixture(logits, locs, log_scales)
    centres = np.linspace(-1.0, 1.0, 256, dtype=np.float32)[:, None]
    probs = np.exp(dist.log_prob(centres).numpy())  # [256, 3]
    np.testing.assert_allclose(probs.sum(axis=0), 1.0, rtol=1e-4)
    assert probs[0, 0] > 0.5 and probs[-1, 1] > 0.5


def test_log_prob_is_finite_in_far_tails():
    dist = DiscretizedLogisticMixture([[0.0]], [[0.9]], [[-7.0]], num_levels=256)
    centres = np.array([13, 127], np.float64) * 2 / 255 - 1  # far below the location
    x = np.array([*centres, 0.9, 1.0], np.float32)
    log_prob = dist.log_prob(x[:, None]).numpy()
    assert np.all(np.isfinite(log_prob))
    # Far below the location both CDFs underflow: log(F(u) - F(l)) in log space instead.
    half, scale = 1.0 / 255, np.exp(-7.0)
    upper = stats.logistic.logcdf(centres + half, loc=0.9, scale=scale)
    lower = stats.logistic.logcdf(centres - half, loc=0.9, scale=scale)
    expected = upper + np.log1p(-np.exp(lower - upper))
    np.testing.assert_allclose(log_prob[:2, 0], expected, rtol=1e-4)


def test_samples_follow_the_bin_probabilities():
    logits, locs, log_scales = _params(1, 3, seed=3, scale_range=(-2.5, -1.5))
    num_levels = 16
    dist = DiscretizedLogisticMixture(logits[0], locs[0], log_scales[0], num_levels=num_levels)
    samples = dist.sample(20000, seed=(1, 2)).numpy()
    centres = np.linspace(-1, 1, num_levels)
    assert np.all(np.isin(np.round(samples, 5), np.round(centres, 5)))
    counts = np.bincount(
        np.round((samples + 1) * (num_levels - 1) / 2).astype(int), minlength=num_levels
    )
    expected = np.exp(_reference_log_prob(centres, logits[0], locs[0], log_scales[0], num_levels))
    np.testing.assert_allclose(counts / counts.sum(), expected, atol=0.015)


def test_sample_from_uniform_is_the_same_under_xla():
    logits, locs, log_scales = _params(32, 4, seed=5)
    dist = DiscretizedLogisticMixture(logits, locs, log_scales)
    u = np.random.RandomState(0).uniform(0.01, 0.99, (2, 32)).astype(np.float32)

    def fn():
        return dist.to_bins(dist.sample_from_uniform(u[0], u[1], temperature=0.8))

    np.testing.assert_array_equal(fn().numpy(), tf.function(fn, jit_compile=True)().numpy())


def test_batch_shape_and_bad_arguments():
    dist = DiscretizedLogisticMixture(*_params(6, 2, seed=0))
    assert dist.batch_shape == [6] and dist.event_shape == []
    with pytest.raises(ValueError, match="num_levels: expected an int >= 2"):
        DiscretizedLogisticMixture(*_params(2, 2, seed=0), num_levels=1)
    with pytest.raises(ValueError, match="expected equal shapes"):
        DiscretizedLogisticMixture(np.zeros([2, 3]), np.zeros([2, 2]), np.zeros([2, 2]))
