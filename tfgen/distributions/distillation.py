"""Probability density distillation terms (Parallel WaveNet, arXiv 1711.10433 Sec. 3.1).

`KL(P_S || P_T) = H(P_S, P_T) - H(P_S)`. The student P_S is an inverse
autoregressive flow whose output at every step is a logistic
p_S(x_t | z_<t) = Logistic(mu_t, s_t), so

* its entropy is analytic: `H(P_S) = E_z[sum_t ln s_t] + 2 T` (a unit
  logistic has entropy 2), Sec. 3.1;
* the cross-entropy is estimated per time step, Sec. 3.1 Eq. (8)-(9): from
  one student sample x the teacher gives p_T(x_t | x_<t) for every t in one
  causal pass; then `H(p_S(x_t | z_<t), p_T(x_t | x_<t))` is the mean of
  `-ln p_T(x_t^(k) | x_<t)` over K fresh draws `x_t^(k) ~ p_S(x_t | z_<t)`.

The teacher is a discretised mixture of logistics (`DiscretizedLogisticMixture`).
Its density at a continuous student value is taken as the mass of the bin
`[x - h, x + h]` around x (not rounded to a bin centre, so it is
differentiable in x) divided by the bin width 2h: the density of the
teacher's continuous mixture smoothed by the quantisation box.

Added to the KL, Sec. 3.2.1's power loss `||phi(g(z, c)) - phi(y)||^2`
between a student sample and the real audio y it is conditioned like, with
`phi(x) = |STFT(x)|^2` averaged over time: the power per frequency band.
"""

import math

import tensorflow as tf

from tfgen.distributions.logistic_mixture import _MIN_LOG_SCALE, _log_bin_mass

LOGISTIC_ENTROPY = 2.0  # The entropy of a unit-scale logistic, in nats.


def logistic_noise(u):
    """Unit logistic noise `ln u - ln(1 - u)` from uniforms u in (0, 1)."""
    u = tf.convert_to_tensor(u, tf.float32)
    return tf.math.log(u) - tf.math.log1p(-u)


def logistic_log_prob(x, loc, log_scale):
    """log density of Logistic(loc, exp(log_scale)) at x (elementwise)."""
    y = (x - loc) * tf.exp(-log_scale)
    return -y - log_scale - 2.0 * tf.math.softplus(-y)


def logistic_entropy(log_scale):
    """Per-step entropy of Logistic(., exp(log_scale)): `ln s + 2` (Sec. 3.1)."""
    return log_scale + LOGISTIC_ENTROPY


def teacher_log_density(mixture, x):
    """ln p_T(x): the mass of `[x - h, x + h]` under `mixture`, over the bin width 2h.

    Below the first bin's upper edge the mass is that of `(-inf, x + h]`,
    above the last bin's lower edge that of `[x - h, inf)`, as the teacher's
    edge bins take the tails.

    Args:
      mixture: `DiscretizedLogisticMixture` with batch shape [...].
      x: float, broadcastable against the batch shape (continuous, not
        rounded to bin centres).

    Returns:
      float [...] log density in nats.
    """
    h = mixture.bin_half_width
    x = tf.convert_to_tensor(x, tf.float32)[..., None]
    inv_scale = tf.exp(-tf.maximum(mixture.log_scales, _MIN_LOG_SCALE))
    upper = (x + h - mixture.locs) * inv_scale
    lower = (x - h - mixture.locs) * inv_scale
    first, last = x < -1.0 + h, x > 1.0 - h
    middle = _log_bin_mass(tf.where(last, lower + 1.0, upper), tf.where(first, upper - 1.0, lower))
    component = tf.where(
        first, tf.math.log_sigmoid(upper), tf.where(last, tf.math.log_sigmoid(-lower), middle)
    )
    log_mass = tf.reduce_logsumexp(tf.nn.log_softmax(mixture.logits, -1) + component, -1)
    return log_mass - math.log(2.0 * h)


def per_step_cross_entropy(mixture, loc, log_scale, u):
    """Sec. 3.1: H(p_S(x_t | z_<t), p_T(x_t | x_<t)) by K draws per step.

    Args:
      mixture: `DiscretizedLogisticMixture` with batch shape [B, T], the
        teacher's p_T(x_t | x_<t) on one student sample x.
      loc, log_scale: float [B, T], the student's logistic p_S(x_t | z_<t).
      u: float [K, B, T] uniforms in (0, 1) for the K draws x_t^(k).

    Returns:
      float [B, T], the mean over k of `-ln p_T(x_t^(k) | x_<t)` (nats).
    """
    draws = loc + tf.exp(log_scale) * logistic_noise(u)  # x_t^(k) ~ p_S(x_t | z_<t)
    return -tf.reduce_mean(teacher_log_density(mixture, draws), axis=0)  # broadcasts over k


def average_power(waveform, frame_length, frame_step):
    """Sec. 3.2.1: phi(x) = |STFT(x)|^2 averaged over time frames, the power per frequency.

    The STFT is `tf.signal.stft`'s: periodic Hann windows of `frame_length` samples every
    `frame_step`, the last frames zero-padded at the end, an FFT of the next power of two
    >= `frame_length` (F = that / 2 + 1 bins).

    Args:
      waveform: float [..., T].
      frame_length, frame_step: ints, the STFT's window and hop in samples.

    Returns:
      float [..., F], the mean over frames of `Re^2 + Im^2` (smooth in the waveform).
    """
    stft = tf.signal.stft(waveform, frame_length, frame_step, pad_end=True)
    power = tf.square(tf.math.real(stft)) + tf.square(tf.math.imag(stft))
    return tf.reduce_mean(power, axis=-2)


def power_loss(generated, real, frame_length, frame_step):
    """Sec. 3.2.1: the squared Euclidean distance `||phi(generated) - phi(real)||^2`.

    Args:
      generated, real: float [..., T] waveforms (the student's sample and the audio of the
        example whose conditioning it was given).
      frame_length, frame_step: ints, the STFT's window and hop (see `average_power`).

    Returns:
      float [...], summed over the frequency bins of `average_power`.
    """
    difference = average_power(generated, frame_length, frame_step) - average_power(
        real, frame_length, frame_step
    )
    return tf.reduce_sum(tf.square(difference), axis=-1)
