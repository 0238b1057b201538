"""Audio: mu-law companding, log-mel frames, and the generated `audio` dataset.

WaveNet (van den Oord et al. 2016, arXiv 1609.03499) Sec. 2.2 models raw audio
as 256 mu-law levels, `f(x) = sign(x) ln(1 + mu |x|) / ln(1 + mu)` with
`mu = 255`; local conditioning (Sec. 2.5) uses features at a lower frame rate,
here log-mel spectrogram frames computed with `tf.signal`.

The `audio` dataset: generated 16 kHz waveforms from a few "speakers".

Every clip is a pure function of a fixed seed, its split and its index, so the
data are the same on every machine; the `seed` argument of `load` only sets
the (per-epoch) order of the `"train"` split. Each clip is one of

- a steady harmonic tone,
- an exponential chirp between two pitches,
- a sequence of four notes of a pentatonic scale, each with its own attack
  and decay,

voiced by one of `num_speakers` speakers. A speaker fixes a timbre (the
amplitudes of the first eight harmonics: roll-off and whether even harmonics
are present), a pitch register and a note decay rate, so conditioning on the
speaker (WaveNet Sec. 2.5, global conditioning) has something to learn.

Elements are `{"audio": int32 [clip_length] mu-law codes in [0, 256),
"speaker": int32 [], "mel": float32 [clip_length / hop_length, num_mels]}`;
`mel` is the log-mel spectrogram of the clip (local conditioning, Sec. 2.5),
frame `i` starting at sample `i * hop_length`. With `speech=True` the clips
are instead speech rendered by `espeak-ng` (only when it is installed) from
Python's bundled help text, one voice per speaker.

Options: `clip_length` (samples, a multiple of `hop_length`; default 8192,
0.512 s), `hop_length` (256), `frame_length` (1024), `num_mels` (40),
`num_speakers` (4, at most 8), `speech` (False). Splits: `"train"` 2,048
clips, `"test"` 256 clips.
"""

import functools
import shutil
import subprocess
import tempfile
import wave

import numpy as np
import tensorflow as tf

from tfgen.data import _common

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


def log_mel_frames(
    waveform,
    *,
    frame_length,
    hop_length,
    num_mels,
    sample_rate=SAMPLE_RATE,
    lower_hz=40.0,
    upper_hz=7600.0,
):
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
    stft = tf.signal.stft(
        waveform,
        frame_length=frame_length,
        frame_step=hop_length,
        fft_length=frame_length,
        pad_end=True,
    )
    power = tf.square(tf.abs(stft))
    matrix = tf.signal.linear_to_mel_weight_matrix(
        num_mels, frame_length // 2 + 1, sample_rate, lower_hz, min(upper_hz, sample_rate / 2)
    )
    return tf.math.log(tf.tensordot(power, matrix, 1) + 1e-6)


SPLITS = {"train": 2048, "test": 256}
NUM_HARMONICS = 8
MAX_SPEAKERS = 8
_DATA_SEED = 1609_03499
_PENTATONIC = (0.0, 2.0, 4.0, 7.0, 9.0, 12.0)
_VOICES = ("en", "en-us", "en+f3", "en+m3", "en+f5", "en+m7", "en-gb-x-rp", "en+f2")


@functools.lru_cache(maxsize=None)
def speaker_table(num_speakers):
    """Fixed per-speaker timbres: (harmonic amplitudes [S, 8], base pitch Hz [S], decay [S])."""
    rng = np.random.RandomState(_DATA_SEED % 2**31)
    k = np.arange(1, NUM_HARMONICS + 1, dtype=np.float64)
    amplitudes, pitches, decays = [], [], []
    for s, rolloff in enumerate(np.linspace(0.4, 2.4, MAX_SPEAKERS)):
        amp = k**-rolloff * (0.75 + 0.5 * rng.rand(NUM_HARMONICS))
        if s % 2:
            amp[1::2] *= 0.05  # hollow, clarinet-like: mostly odd harmonics
        amplitudes.append(amp / amp.sum())
        pitches.append(110.0 * 2.0 ** rng.uniform(0.0, 1.5))
        decays.append(rng.uniform(2.0, 12.0))
    order = rng.permutation(MAX_SPEAKERS)[:num_speakers]
    return (
        np.asarray(amplitudes, np.float32)[order],
        np.asarray(pitches, np.float32)[order],
        np.asarray(decays, np.float32)[order],
    )


def _uniform(seed, low=0.0, high=1.0, shape=()):
    return tf.random.stateless_uniform(shape, seed, low, high)


def synth_clip(seed, speaker, clip_length, num_speakers):
    """One generated clip, float32 [clip_length] in [-1, 1], for `speaker`.

    Args:
      seed: int64 [2] stateless seed of the clip.
      speaker: int32 [] speaker index.
      clip_length: int, samples.
      num_speakers: int, size of the speaker table.
    """
    amplitudes, pitches, decays = (tf.constant(a) for a in speaker_table(num_speakers))
    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 6))
    kind = tf.random.stateless_uniform([], seeds[0], 0, 3, tf.int32)
    base = tf.gather(pitches, speaker)
    time = tf.range(clip_length, dtype=tf.float32) / SAMPLE_RATE
    duration = clip_length / SAMPLE_RATE
    # Pitch contour f0(t) of the three kinds of clip.
    low, high = _uniform(seeds[1], 0.0, 1.0), _uniform(seeds[2], 0.0, 1.0)
    tone = base * 2.0**low * tf.ones_like(time)
    chirp = base * 2.0 ** (low + (high - low) * time / duration)
    note_index = tf.minimum(tf.cast(time * 4.0 / duration, tf.int32), 3)
    steps = tf.random.stateless_uniform([4], seeds[3], 0, len(_PENTATONIC), tf.int32)
    semitones = tf.gather(tf.constant(_PENTATONIC), tf.gather(steps, note_index))
    notes = base * 2.0 ** (semitones / 12.0)
    f0 = tf.gather(tf.stack([tone, chirp, notes]), kind)
    # Harmonic synthesis with continuous phase; harmonics above 7 kHz are dropped.
    cycles = tf.math.floormod(tf.cumsum(f0 / SAMPLE_RATE), 1.0)
    k = tf.range(1, NUM_HARMONICS + 1, dtype=tf.float32)
    audible = tf.cast(k[None, :] * f0[:, None] < 7000.0, tf.float32)
    partials = tf.sin(2.0 * np.pi * k[None, :] * cycles[:, None]) * audible
    signal = tf.reduce_sum(partials * tf.gather(amplitudes, speaker)[None, :], axis=-1)
    # Envelopes: 10 ms fades for tones and chirps; attack and decay per note.
    fade = tf.minimum(1.0, tf.minimum(time, duration - time) / 0.01)
    note_time = time - tf.cast(note_index, tf.float32) * duration / 4.0
    note_env = tf.minimum(1.0, note_time / 0.005) * tf.exp(-tf.gather(decays, speaker) * note_time)
    envelope = tf.where(kind == 2, note_env, fade)
    gain = _uniform(seeds[4], 0.3, 0.9)
    noise = 0.003 * tf.random.stateless_normal([clip_length], seeds[5])
    return tf.clip_by_value(gain * envelope * signal + noise, -1.0, 1.0)


@functools.lru_cache(maxsize=None)
def _speech_clips(split, clip_length, num_speakers):
    """Speech clips rendered by espeak-ng: (float32 [N, clip_length], int32 [N] speakers)."""
    from pydoc_data.topics import topics

    words = " ".join(topics[key] for key in sorted(topics)).split()
    sentences = [" ".join(words[i : i + 12]) for i in range(0, 12 * 400, 12)]
    start = 0 if split == "train" else len(sentences) * 7 // 8
    stop = len(sentences) * 7 // 8 if split == "train" else len(sentences)
    clips, speakers = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for index, sentence in enumerate(sentences[start:stop]):
            speaker = index % num_speakers
            path = f"{tmp}/clip.wav"
            subprocess.run(
                ["espeak-ng", "-v", _VOICES[speaker], "-w", path, sentence],
                check=True,
                capture_output=True,
            )
            with wave.open(path) as handle:
                rate = handle.getframerate()
                pcm = np.frombuffer(handle.readframes(handle.getnframes()), np.int16)
            pcm = pcm.astype(np.float32) / 32768.0
            resampled = np.interp(
                np.arange(0, len(pcm) * SAMPLE_RATE // rate) * rate / SAMPLE_RATE,
                np.arange(len(pcm)),
                pcm,
            )
            for offset in range(0, len(resampled) - clip_length + 1, clip_length):
                clips.append(resampled[offset : offset + clip_length])
                speakers.append(speaker)
    return np.asarray(clips, np.float32), np.asarray(speakers, np.int32)


def _check(clip_length, hop_length, frame_length, num_mels, num_speakers, speech):
    hop_length = _common.check_int("hop_length of dataset 'audio'", hop_length, low=1)
    _common.check_int("clip_length of dataset 'audio'", clip_length, low=hop_length)
    if clip_length % hop_length:
        raise ValueError(
            f"clip_length of dataset 'audio' must be a multiple of hop_length="
            f"{hop_length}; got {clip_length!r}."
        )
    _common.check_int("frame_length of dataset 'audio'", frame_length, low=2)
    _common.check_int("num_mels of dataset 'audio'", num_mels, low=1)
    _common.check_int("num_speakers of dataset 'audio'", num_speakers, 1, MAX_SPEAKERS)
    if not isinstance(speech, bool):
        raise ValueError(f"speech of dataset 'audio' must be True or False; got {speech!r}.")
    if speech and shutil.which("espeak-ng") is None:
        raise ValueError(
            "speech=True of dataset 'audio' needs the espeak-ng program; "
            "expected it on PATH, got none (use speech=False)."
        )


def _info(clip_length, hop_length, frame_length, num_mels, num_speakers, speech):
    _check(clip_length, hop_length, frame_length, num_mels, num_speakers, speech)
    num_examples = (
        dict(SPLITS)
        if not speech
        else {split: len(_speech_clips(split, clip_length, num_speakers)[1]) for split in SPLITS}
    )
    return _common.DatasetInfo(
        name="audio",
        features={
            "audio": tf.TensorSpec([clip_length], tf.int32),
            "speaker": tf.TensorSpec([], tf.int32),
            "mel": tf.TensorSpec([clip_length // hop_length, num_mels], tf.float32),
        },
        num_examples=num_examples,
        num_levels=NUM_LEVELS,
        num_labels=num_speakers,
    )


def _make(
    split,
    *,
    shuffle,
    repeat,
    seed,
    clip_length,
    hop_length,
    frame_length,
    num_mels,
    num_speakers,
    speech,
):
    num_examples = _info(
        clip_length, hop_length, frame_length, num_mels, num_speakers, speech
    ).num_examples[split]
    data_seed = _common.base_seed(_DATA_SEED, "audio", split)
    if speech:
        waveforms, speakers = (
            tf.constant(a) for a in _speech_clips(split, clip_length, num_speakers)
        )

    def example(index, _):
        if speech:
            waveform, speaker = tf.gather(waveforms, index), tf.gather(speakers, index)
        else:
            clip_seed = tf.random.experimental.stateless_fold_in(data_seed, index)
            speaker = tf.cast(index % num_speakers, tf.int32)
            waveform = synth_clip(clip_seed, speaker, clip_length, num_speakers)
        mel = log_mel_frames(
            waveform, frame_length=frame_length, hop_length=hop_length, num_mels=num_mels
        )
        return {"audio": mu_law_encode(waveform), "speaker": speaker, "mel": mel}

    return _common.indexed_dataset(
        num_examples,
        example,
        seed=_common.base_seed(seed, "audio", split, "order"),
        shuffle=shuffle,
        repeat=repeat,
        per_epoch=False,
    )


_common.register(
    "audio",
    {
        "clip_length": 8192,
        "hop_length": 256,
        "frame_length": 1024,
        "num_mels": 40,
        "num_speakers": 4,
        "speech": False,
    },
    _info,
    _make,
)
