"""bench/audio_quality.py against NumPy references written from the definitions, and known tones."""

import numpy as np
import pytest

from bench import audio_quality as q
from tfgen import data
from tfgen.data import audio

RATE = audio.SAMPLE_RATE


def _harmonic_tone(f0, amplitudes, length, seed=0, noise=0.003):
    """A harmonic tone of pitch f0 (Hz) with random phases, plus white noise."""
    rng = np.random.RandomState(seed)
    t = np.arange(length) / RATE
    tone = sum(
        a * np.sin(2 * np.pi * (k + 1) * f0 * t + rng.uniform(0, 2 * np.pi))
        for k, a in enumerate(amplitudes)
    )
    return 0.5 * tone / np.sum(amplitudes) + noise * rng.randn(length)


def _reference_spectrum(waveforms, frame_length, hop):
    """Mean over clips and frames of 10 log10(|DFT|^2 + 1e-10), with an explicit DFT matrix."""
    n = np.arange(frame_length)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / (frame_length - 1))  # symmetric Hann
    k = np.arange(frame_length // 2 + 1)
    dft = np.exp(-2j * np.pi * np.outer(n, k) / frame_length)
    spectra = []
    for clip in waveforms:
        for start in range(0, len(clip) - frame_length + 1, hop):
            power = np.abs((clip[start : start + frame_length] * window) @ dft) ** 2
            spectra.append(10 * np.log10(power + 1e-10))
    return np.mean(spectra, axis=0)


def _reference_yin(frame, min_lag, max_lag, threshold):
    """Plain-loop YIN period (Eqs. 6 and 8): the first local minimum below threshold."""
    window = len(frame) - max_lag
    d = np.array(
        [sum((frame[j] - frame[j + tau]) ** 2 for j in range(window)) for tau in range(max_lag + 1)]
    )
    cmnd = np.ones(max_lag + 1)
    for tau in range(1, max_lag + 1):
        cmnd[tau] = d[tau] * tau / np.sum(d[1 : tau + 1])
    for tau in range(max(min_lag, 1), max_lag):
        if cmnd[tau] < threshold and cmnd[tau] <= cmnd[tau - 1] and cmnd[tau] < cmnd[tau + 1]:
            return tau, d, cmnd
    return None, d, cmnd


def test_mean_log_spectrum_matches_dft_reference():
    rng = np.random.RandomState(0)
    waveforms = 0.3 * rng.randn(3, 300)
    got = q.mean_log_spectrum(waveforms, frame_length=64, hop_length=48)
    np.testing.assert_allclose(got, _reference_spectrum(waveforms, 64, 48), rtol=1e-9, atol=1e-9)
    assert got.shape == (33,)


def test_mean_log_spectrum_peaks_at_a_tone():
    tone = np.sin(2 * np.pi * 1000.0 * np.arange(4096) / RATE)[None]  # bin 1000 / 31.25 = 32
    assert np.argmax(q.mean_log_spectrum(tone)) == 32


def test_spectral_distance_of_a_gain_is_its_decibels():
    rng = np.random.RandomState(1)
    real = 0.2 * rng.randn(4, 2048)
    assert q.spectral_distance(real, real) == 0.0
    # Power scales by 4 in every bin: 10 log10(4) = 6.02 dB (the floor is far below).
    np.testing.assert_allclose(q.spectral_distance(2.0 * real, real), 10 * np.log10(4.0), 1e-6)
    # Two independent sets of the same noise are close (log-power of 52 frames: about 1.1 dB
    # RMS apart); a harmonic tone is far.
    other = 0.2 * rng.randn(4, 2048)
    tones = np.stack([_harmonic_tone(150.0 * (i + 1), [1.0, 0.5], 2048, i, 0) for i in range(4)])
    assert q.spectral_distance(other, real) < 3.0 < 10.0 < q.spectral_distance(tones, real)


def test_difference_functions_match_loop_reference():
    rng = np.random.RandomState(2)
    frame = _harmonic_tone(230.0, [1.0, 0.6, 0.3], 180, seed=3) + 0.05 * rng.randn(180)
    _, d, cmnd = _reference_yin(frame, 10, 80, 0.15)
    got = q.difference_function(frame[None], 80)[0]
    np.testing.assert_allclose(got, d, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(q.normalised_difference(got[None])[0], cmnd, rtol=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_frame_pitch_picks_the_reference_lag(seed):
    rng = np.random.RandomState(seed)
    f0 = rng.uniform(110, 620)
    frame = _harmonic_tone(f0, rng.uniform(0.1, 1.0, 6), 256 + 201, seed=seed, noise=0.05)
    # 80 Hz: lags up to ceil(16000 / 80) + 1 = 201; 1000 Hz: from lag 16.
    tau, _, cmnd = _reference_yin(frame, 16, 201, 0.15)
    got, aperiodicity = q.frame_pitch(frame[None])
    # The parabola moves the period by at most half a lag from the reference's lag.
    assert RATE / (tau + 0.5) <= got[0] <= RATE / (tau - 0.5)
    np.testing.assert_allclose(aperiodicity[0], np.min(cmnd[16:201]), rtol=1e-9)


def test_clip_pitch_of_pure_tones_within_two_cents():
    # A sinusoid's period is exact: the parabola through d' at the best lag and its
    # neighbours leaves well under 2 cents (0.12%) of error from 100 to 660 Hz.
    f0 = np.array([100.0, 137.5, 220.0, 311.1, 440.0, 523.3, 660.0])
    t = np.arange(2048) / RATE
    clips = 0.5 * np.sin(2 * np.pi * f0[:, None] * t + 0.3)
    got, aperiodicity = q.clip_pitch(clips)
    cents = 1200 * np.log2(got / f0)
    assert (np.abs(cents) < 2.0).all(), cents
    assert (aperiodicity < 1e-3).all(), aperiodicity


@pytest.mark.parametrize(
    "f0, amplitudes",
    [
        (118.0, [1.0, 0.0, 0.3, 0.0, 0.1]),  # hollow: odd harmonics only
        (226.0, [1.0, 0.7, 0.7, 0.5, 0.5, 0.5, 0.4, 0.3]),  # flat, eight harmonics
        (305.0, [0.7, 0.12, 0.06, 0.04]),
        (610.0, [1.0, 0.5]),
        (95.0, [0.2, 1.0, 0.5]),  # a weak fundamental
    ],
)
def test_clip_pitch_of_known_tones(f0, amplitudes):
    clips = np.stack([_harmonic_tone(f0, amplitudes, 2048, seed) for seed in range(3)])
    got, aperiodicity = q.clip_pitch(clips)
    np.testing.assert_allclose(got, f0, rtol=0.005)
    assert (aperiodicity < 0.01).all(), aperiodicity


def test_clip_pitch_of_noise_and_silence():
    rng = np.random.RandomState(5)
    clips = np.stack([0.3 * rng.randn(2048), 0.3 * rng.uniform(-1, 1, 2048), np.zeros(2048)])
    f0, aperiodicity = q.clip_pitch(clips)
    assert np.isnan(f0).all()
    # White noise: d' stays near 1 at every lag (its smallest of ~185 values a little below).
    assert (aperiodicity[:2] > 0.6).all() and aperiodicity[2] == 1.0, aperiodicity


def test_clip_pitch_of_real_clips_in_their_register():
    batch = next(iter(data.load("audio", "test", batch_size=16, shuffle=False, clip_length=2048)))
    waveforms = audio.mu_law_decode(batch["audio"]).numpy()
    bases = audio.speaker_table(4)[1]
    f0, _ = q.clip_pitch(waveforms)
    assert q.register_hits(f0, bases[batch["speaker"].numpy()]).all(), f0


def test_register_hits_and_pitch_match():
    semitone = 2 ** (1 / 12)
    f0 = np.array([100.0, 100.0 / semitone * 1.001, 150.0, 200.0 * semitone * 0.999, 250.0, np.nan])
    np.testing.assert_array_equal(q.register_hits(f0, 100.0), [1, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(q.register_hits(f0, 100.0, tolerance=0.0)[1:4], [0, 1, 0])
    # Speakers at 100 and 300 Hz: clips of speaker 0 at 150 (own register), 350 (the
    # other's), NaN (no pitch); of speaker 1 at 500 (own), 150 (the other's).
    voiced, own, others = q.pitch_match(
        [150.0, 350.0, np.nan, 500.0, 150.0], [0, 0, 0, 1, 1], [100.0, 300.0]
    )
    assert (voiced, own, others) == (0.8, 0.4, 0.4)


def test_errors_say_what_was_expected():
    with pytest.raises(ValueError, match="at least frame_length=512"):
        q.mean_log_spectrum(np.zeros((2, 100)))
    with pytest.raises(ValueError, match="expected two \\[clips\\] arrays"):
        q.pitch_match([100.0, 200.0], [0], [100.0, 200.0])
    with pytest.raises(ValueError, match="at least 2 speakers"):
        q.pitch_match([100.0], [0], [100.0])
    with pytest.raises(TypeError, match="frame_length: expected an int"):
        q.frames_of(np.zeros(10), 4.0, 2)
    with pytest.raises(ValueError, match="min_hz"):
        q.frame_pitch(np.zeros((1, 400)), min_hz=2000.0)
