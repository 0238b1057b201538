"""Sample quality of generated audio, measured against the `audio` data (NumPy only).

WaveNet (arXiv 1609.03499) and Parallel WaveNet (arXiv 1711.10433) report sample quality as
listeners' mean opinion scores; with no listeners, the benches measure two things a listener
hears first on the generated `audio` data (harmonic tones, chirps and notes):

- timbre: `spectral_distance`, the RMS over frequency bins of the dB difference between the
  mean log-power spectra (`mean_log_spectrum`) of two sets of clips. Broadband noise and a
  harmonic tone differ by tens of dB in most bins; two sets of real clips differ only by
  sampling noise.
- pitch: `clip_pitch` estimates each clip's fundamental frequency with YIN (de Cheveigne and
  Kawahara 2002, "YIN, a fundamental frequency estimator for speech and music"): the
  cumulative-mean-normalised difference function of each frame, its first local minimum
  below a threshold, refined by a parabola; the clip's f0 is the median over voiced frames,
  NaN when fewer than half the frames are voiced (noise, silence). Beside it, the clip's
  aperiodicity: the median over frames of the difference function's smallest value, 0 for a
  periodic signal, about 1 for white noise. `register_hits` says
  whether an f0 lies in a speaker's register: every clip of the `audio` data (tone, chirp
  or notes) keeps its f0 within the octave above the speaker's base pitch
  (`tfgen.data.audio.speaker_table`).

They live beside the benches, not in `tfgen`: they score samples against the construction
of one generated dataset, and no model, layer or export needs them.
"""

import numpy as np

from tfgen.checks import check_float, check_int
from tfgen.data import audio

POWER_FLOOR = 1e-10  # -100 dB: the log of silence stays finite


def frames_of(waveforms, frame_length, hop_length):
    """The whole frames of each clip: float64 [..., T] -> [..., frames, frame_length]."""
    check_int(frame_length, "frame_length")
    check_int(hop_length, "hop_length")
    waveforms = np.asarray(waveforms, np.float64)
    if waveforms.shape[-1] < frame_length:
        raise ValueError(
            f"waveforms: expected at least frame_length={frame_length} samples, "
            f"got shape {waveforms.shape}."
        )
    count = 1 + (waveforms.shape[-1] - frame_length) // hop_length
    index = np.arange(frame_length)[None, :] + hop_length * np.arange(count)[:, None]
    return waveforms[..., index]


def mean_log_spectrum(waveforms, frame_length=512, hop_length=128):
    """The mean log-power spectrum of a set of clips, in dB per frequency bin.

    `10 log10(|STFT|^2 + 1e-10)` with a Hann window, averaged over the frames of each clip,
    then over the clips.

    Args:
      waveforms: float [clips, T] samples in [-1, 1], T >= `frame_length`.
      frame_length: int, STFT window and FFT length.
      hop_length: int, samples between frames.

    Returns:
      float64 [frame_length // 2 + 1], dB.
    """
    frames = frames_of(waveforms, frame_length, hop_length) * np.hanning(frame_length)
    power = np.abs(np.fft.rfft(frames, axis=-1)) ** 2
    return np.mean(10.0 * np.log10(power + POWER_FLOOR), axis=(0, 1))


def spectral_distance(waveforms, reference, frame_length=512, hop_length=128):
    """RMS over frequency bins of the dB difference of two sets' mean log-power spectra.

    Args:
      waveforms, reference: float [clips, T] each (the counts and lengths may differ).
      frame_length, hop_length: ints, the STFT of `mean_log_spectrum`.

    Returns:
      float, dB.
    """
    difference = mean_log_spectrum(waveforms, frame_length, hop_length) - mean_log_spectrum(
        reference, frame_length, hop_length
    )
    return float(np.sqrt(np.mean(difference**2)))


def difference_function(frames, max_lag):
    """YIN's difference function (Eq. 6) of each frame, by FFT cross-correlation.

    `d(tau) = sum_{j < W} (x_j - x_{j + tau})^2` for `tau` in [0, max_lag], with the
    integration window `W = frame_length - max_lag`, expanded as
    `sum x_j^2 + sum x_{j + tau}^2 - 2 sum x_j x_{j + tau}`.

    Args:
      frames: float [..., frame_length], `frame_length > max_lag`.
      max_lag: int >= 1, the largest lag.

    Returns:
      float64 [..., max_lag + 1].
    """
    frames = np.asarray(frames, np.float64)
    window = frames.shape[-1] - check_int(max_lag, "max_lag")
    if window < 1:
        raise ValueError(
            f"frames: expected more than max_lag={max_lag} samples, got {frames.shape}."
        )
    lags = np.arange(max_lag + 1)
    energy = np.cumsum(np.concatenate([np.zeros(frames.shape[:-1] + (1,)), frames**2], -1), -1)
    size = 2 ** int(np.ceil(np.log2(2 * frames.shape[-1])))
    spectrum = np.fft.rfft(frames, size) * np.conj(np.fft.rfft(frames[..., :window], size))
    cross = np.fft.irfft(spectrum, size)[..., : max_lag + 1]
    lagged = energy[..., lags + window] - energy[..., lags]
    return np.maximum(energy[..., window, None] + lagged - 2.0 * cross, 0.0)


def normalised_difference(d):
    """YIN's cumulative-mean-normalised difference (Eq. 8): d'(0) = 1, d(tau) / mean d(1..tau).

    Args:
      d: float [..., lags] from `difference_function`.

    Returns:
      float64 [..., lags]; 1 where the running mean is zero (silence).
    """
    d = np.asarray(d, np.float64)
    running = np.cumsum(d[..., 1:], -1) / np.arange(1, d.shape[-1])
    ratio = np.divide(d[..., 1:], running, out=np.ones_like(running), where=running > 0)
    return np.concatenate([np.ones(d.shape[:-1] + (1,)), ratio], -1)


def frame_pitch(
    frames, sample_rate=audio.SAMPLE_RATE, min_hz=80.0, max_hz=1000.0, threshold=0.15, silence=0.01
):
    """YIN pitch and aperiodicity of each frame.

    The period is the first local minimum of the normalised difference d' below `threshold`
    between the lags of `max_hz` and `min_hz`, refined by a parabola through it and its
    neighbours. A frame whose RMS over its integration window is below `silence`, or with no
    such minimum, is unvoiced. The aperiodicity is the smallest d' over those lags (YIN Sec.
    II.F: about the share of the frame's power that is not periodic), 1 for a silent frame.

    Args:
      frames: float [..., frame_length] with `frame_length > sample_rate / min_hz + 2`.
      sample_rate: int, samples per second.
      min_hz, max_hz: floats, the pitch range searched.
      threshold: float in (0, 1), YIN's absolute threshold.
      silence: float >= 0, the RMS below which a frame is silent.

    Returns:
      `(f0, aperiodicity)`, float64 [...] each: Hz (NaN where unvoiced), and a ratio.
    """
    max_hz = check_float(max_hz, "max_hz", low=0.0, low_open=True)
    min_hz = check_float(min_hz, "min_hz", low=0.0, high=max_hz, low_open=True, high_open=True)
    check_float(threshold, "threshold", 0.0, 1.0, low_open=True, high_open=True)
    frames = np.asarray(frames, np.float64)
    max_lag = int(np.ceil(sample_rate / min_hz)) + 1
    min_lag = max(int(np.floor(sample_rate / max_hz)), 1)
    cmnd = normalised_difference(difference_function(frames, max_lag))
    centre, left, right = cmnd[..., 1:-1], cmnd[..., :-2], cmnd[..., 2:]
    lags = np.arange(1, max_lag)
    searched = lags >= min_lag
    dips = (centre < threshold) & (centre <= left) & (centre < right) & searched
    first = np.argmax(dips, axis=-1)
    pick = lambda a: np.take_along_axis(a, first[..., None], -1)[..., 0]  # noqa: E731
    c, a, b = pick(centre), pick(left), pick(right)
    curvature = a - 2.0 * c + b
    shift = np.divide(a - b, 2.0 * curvature, out=np.zeros_like(c), where=curvature > 0)
    period = lags[first] + np.clip(shift, -0.5, 0.5)
    rms = np.sqrt(np.mean(frames[..., : frames.shape[-1] - max_lag] ** 2, axis=-1))
    sounding = rms >= silence
    f0 = np.where(dips.any(axis=-1) & sounding, sample_rate / period, np.nan)
    return f0, np.where(sounding, np.min(centre[..., searched], axis=-1), 1.0)


def clip_pitch(waveforms, window=256, hop_length=128, min_hz=80.0, **kwargs):
    """Each clip's f0 and aperiodicity, from the YIN pitch of its frames (`frame_pitch`).

    The clip's f0 is the median over its voiced frames, NaN if under half its frames are
    voiced; its aperiodicity the median over all its frames. Frames hold `window` samples of
    integration plus the lags down to `min_hz`.

    Args:
      waveforms: float [clips, T].
      window: int, YIN's integration window W.
      hop_length: int, samples between frames.
      min_hz: float, the lowest pitch searched.
      **kwargs: `sample_rate`, `max_hz`, `threshold`, `silence` of `frame_pitch`.

    Returns:
      `(f0, aperiodicity)`, float64 [clips] each: Hz (NaN: no pitch), and a ratio.
    """
    sample_rate = kwargs.get("sample_rate", audio.SAMPLE_RATE)
    frame_length = check_int(window, "window") + int(np.ceil(sample_rate / min_hz)) + 1
    frames = frames_of(waveforms, frame_length, hop_length)
    f0, aperiodicity = frame_pitch(frames, min_hz=min_hz, **kwargs)
    voiced = np.isfinite(f0)
    enough = 2 * voiced.sum(axis=-1) >= f0.shape[-1]
    median = np.nanmedian(np.where(voiced.any(-1, keepdims=True), f0, 0.0), axis=-1)
    return np.where(enough, median, np.nan), np.median(aperiodicity, axis=-1)


def register_hits(f0, base_hz, tolerance=1.0):
    """Whether each f0 lies in the octave above `base_hz`, widened by `tolerance` semitones.

    Args:
      f0: float [...] Hz (NaN: no pitch, never a hit).
      base_hz: float [...] broadcastable to `f0`, the speakers' base pitches.
      tolerance: float >= 0, semitones added below the base and above the octave.

    Returns:
      bool [...].
    """
    check_float(tolerance, "tolerance", low=0.0)
    f0, base = np.asarray(f0, np.float64), np.asarray(base_hz, np.float64)
    widen = 2.0 ** (tolerance / 12.0)
    with np.errstate(invalid="ignore"):
        return (f0 >= base / widen) & (f0 <= 2.0 * base * widen)


def pitch_match(f0, speakers, base_pitches, tolerance=1.0):
    """How often clips carry their own speaker's register, against the other speakers'.

    Args:
      f0: float [clips] Hz, e.g. from `clip_pitch`.
      speakers: int [clips], the speaker each clip was conditioned on (or spoken by).
      base_pitches: float [num_speakers] Hz, e.g. `speaker_table(n)[1]`.
      tolerance: float, semitones of `register_hits`.

    Returns:
      `(voiced, own, others)`: the fractions of clips with a pitch, with a pitch in their
      speaker's register, and in another speaker's register (averaged over the other
      speakers: what a pitch unrelated to the conditioning scores).
    """
    f0, speakers = np.asarray(f0, np.float64), np.asarray(speakers)
    base_pitches = np.asarray(base_pitches, np.float64)
    if f0.shape != speakers.shape or f0.ndim != 1:
        raise ValueError(
            f"f0, speakers: expected two [clips] arrays, got {f0.shape} and {speakers.shape}."
        )
    if base_pitches.size < 2:
        raise ValueError(f"base_pitches: expected at least 2 speakers, got {base_pitches.size}.")
    hits = register_hits(f0[:, None], base_pitches[None, :], tolerance)  # [clips, speakers]
    own = np.arange(base_pitches.size)[None, :] == speakers[:, None]
    others = np.sum(hits & ~own, axis=-1) / (base_pitches.size - 1)
    return (
        float(np.mean(np.isfinite(f0))),
        float(np.mean(hits[own])),
        float(np.mean(others)),
    )
