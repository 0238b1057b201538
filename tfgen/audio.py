"""Audio helpers: mu-law companding with 8-bit quantisation, and log-mel frames.

WaveNet (van den Oord et al. 2016, arXiv 1609.03499) Sec. 2.2 models raw audio
as 256 mu-law levels, `f(x) = sign(x) ln(1 + mu |x|) / ln(1 + mu)` with
`mu = 255`; local conditioning (Sec. 2.5) uses features at a lower frame rate,
here log-mel spectrogram frames computed with `tf.signal`.
"""

import tensorflow as tf

MU = 255
NUM_LEVELS = MU + 1
SAMPLE_RATE = 16000


def mu_law_encode(waveform, mu=MU):
    """Mu-law companding then uniform quantisation to `mu + 1` levels (Sec. 2.2).

    Args:
      waveform: float tensor of samples in [-1, 1] (values outside are clipped).
      mu: int, the companding constant (255: 256 levels).

    Returns:
      int32 tensor of the same shape with codes in [0, mu].
    """
    x = tf.clip_by_value(tf.convert_to_tensor(waveform, tf.float32), -1.0, 1.0)
    companded = tf.sign(x) * tf.math.log1p(mu * tf.abs(x)) / tf.math.log1p(float(mu))
    return tf.cast(tf.round((companded + 1.0) * (mu / 2.0)), tf.int32)


def codes_to_values(codes, mu=MU):
    """Codes in [0, mu] -> the companded values in [-1, 1] at the bin centres."""
    return tf.cast(codes, tf.float32) * (2.0 / mu) - 1.0


def values_to_codes(values, mu=MU):
    """Companded values in [-1, 1] -> the nearest code in [0, mu] (int32)."""
    values = tf.clip_by_value(tf.convert_to_tensor(values, tf.float32), -1.0, 1.0)
    return tf.cast(tf.round((values + 1.0) * (mu / 2.0)), tf.int32)


def mu_law_decode(codes, mu=MU):
    """Inverse of `mu_law_encode` (up to quantisation): codes -> waveform in [-1, 1].

    Args:
      codes: integer tensor with values in [0, mu].
      mu: int, the companding constant.

    Returns:
      float32 tensor of the same shape.
    """
    y = codes_to_values(codes, mu)
    return tf.sign(y) * tf.math.expm1(tf.abs(y) * tf.math.log1p(float(mu))) / mu


def log_mel_frames(waveform, *, frame_length, hop_length, num_mels, sample_rate=SAMPLE_RATE,
                   lower_hz=40.0, upper_hz=7600.0):
    """Log-mel spectrogram frames for local conditioning (Sec. 2.5).

    The waveform is framed with `hop_length` and zero-padded at the end, so
    a waveform of `T` samples, `T` a multiple of `hop_length`, gives exactly
    `T / hop_length` frames: frame `i` starts at sample `i * hop_length`.

    Args:
      waveform: float32 [..., T].
      frame_length: int, STFT window (and FFT) length.
      hop_length: int, samples between frames.
      num_mels: int, mel bands.
      sample_rate: int, samples per second.
      lower_hz, upper_hz: float, the mel filterbank's range.

    Returns:
      float32 [..., ceil(T / hop_length), num_mels], `log(mel power + 1e-6)`.
    """
    stft = tf.signal.stft(waveform, frame_length=frame_length, frame_step=hop_length,
                          fft_length=frame_length, pad_end=True)
    power = tf.square(tf.abs(stft))
    matrix = tf.signal.linear_to_mel_weight_matrix(
        num_mels, frame_length // 2 + 1, sample_rate, lower_hz, min(upper_hz, sample_rate / 2))
    return tf.math.log(tf.tensordot(power, matrix, 1) + 1e-6)
