"""Parallel WaveNet's power loss (1711.10433 Sec. 3.2.1) against a NumPy STFT."""

import numpy as np
import pytest
import tensorflow as tf

from tests.distributions.distillation_reference import average_power_numpy, power_loss_numpy
from tfgen.distributions import distillation


@pytest.mark.parametrize("frame_length, frame_step, length", [(16, 4, 64), (12, 5, 37)])
def test_power_loss_matches_numpy_stft(frame_length, frame_step, length):
    rng = np.random.default_rng(0)
    generated = rng.uniform(-1, 1, [3, length])
    t = np.arange(length)
    real = 0.6 * np.sin(2 * np.pi * 0.1 * t) + 0.1 * rng.standard_normal([3, length])
    phi = distillation.average_power(tf.constant(generated, tf.float64), frame_length, frame_step)
    expected_phi = average_power_numpy(generated, frame_length, frame_step)
    assert phi.shape == (3, (1 << (frame_length - 1).bit_length()) // 2 + 1)
    np.testing.assert_allclose(phi.numpy(), expected_phi, rtol=1e-10, atol=1e-12)
    loss = distillation.power_loss(generated, real, frame_length, frame_step)
    np.testing.assert_allclose(
        loss.numpy(), power_loss_numpy(generated, real, frame_length, frame_step), rtol=1e-10
    )
    # float32 waveforms give the same within float32 rounding.
    loss32 = distillation.power_loss(
        tf.constant(generated, tf.float32), tf.constant(real, tf.float32), frame_length, frame_step
    )
    np.testing.assert_allclose(loss32.numpy(), loss.numpy(), rtol=1e-4)


def test_power_is_averaged_over_time_before_the_distance():
    """A tone and the same tone delayed have the same time-averaged power: no loss."""
    t = np.arange(96)
    tone = np.sin(2 * np.pi * t / 8)
    delayed = np.concatenate([np.zeros(8), tone[:-8]])
    loss = distillation.power_loss(tone[None, 8:], delayed[None, 8:], 16, 4)
    np.testing.assert_allclose(loss.numpy(), 0.0, atol=1e-18)
    # ... while a tone at another frequency is far from it.
    other = np.sin(2 * np.pi * t / 4)
    assert distillation.power_loss(tone[None], other[None], 16, 4).numpy()[0] > 1.0


def test_power_loss_gradient_matches_finite_differences_of_numpy():
    rng = np.random.default_rng(1)
    generated = tf.constant(rng.uniform(-1, 1, [2, 20]), tf.float64)
    real = rng.uniform(-1, 1, [2, 20])
    with tf.GradientTape() as tape:
        tape.watch(generated)
        loss = tf.reduce_sum(distillation.power_loss(generated, real, 8, 3))
    gradient = tape.gradient(loss, generated).numpy()
    # Sample 0 is seen only at the periodic Hann window's zero; every other sample matters.
    assert np.all(np.isfinite(gradient)) and np.all(gradient[:, 1:] != 0)
    epsilon, numeric = 1e-6, np.zeros_like(gradient)
    for index in np.ndindex(gradient.shape):
        step = np.zeros(gradient.shape)
        step[index] = epsilon
        up = power_loss_numpy(generated.numpy() + step, real, 8, 3).sum()
        down = power_loss_numpy(generated.numpy() - step, real, 8, 3).sum()
        numeric[index] = (up - down) / (2 * epsilon)
    np.testing.assert_allclose(gradient, numeric, rtol=1e-6, atol=1e-7)
