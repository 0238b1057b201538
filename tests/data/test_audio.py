"""The generated `audio` dataset and the mu-law / log-mel helpers (WaveNet Sec. 2.2, 2.5)."""

import shutil

import numpy as np
import pytest
import tensorflow as tf

from tfgen import data
from tfgen.data import audio

SMALL = dict(clip_length=1024, hop_length=128, frame_length=256, num_mels=16)


def _batch(split, size, **options):
    return {
        k: v.numpy()
        for k, v in next(
            iter(data.load("audio", split, batch_size=size, **{**SMALL, **options}))
        ).items()
    }


def test_registered_with_info():
    info = data.info("audio", **SMALL)
    assert "audio" in data.names()
    assert info.features["audio"].shape == [1024] and info.features["audio"].dtype == tf.int32
    assert info.features["mel"].shape == [8, 16] and info.features["speaker"].shape == []
    assert info.num_levels == 256 and info.num_labels == 4
    assert info.num_examples == {"train": 2048, "test": 256}


def test_elements_shapes_ranges_and_fixed_content():
    batch = _batch("test", 32)
    assert batch["audio"].shape == (32, 1024) and batch["audio"].dtype == np.int32
    assert batch["audio"].min() >= 0 and batch["audio"].max() < 256
    assert batch["mel"].shape == (32, 8, 16) and np.all(np.isfinite(batch["mel"]))
    assert set(batch["speaker"]) == {0, 1, 2, 3}
    # The clips are a function of a fixed seed: the load seed does not change them.
    again = _batch("test", 32)
    np.testing.assert_array_equal(batch["audio"], again["audio"])
    shuffled = {
        k: v.numpy()
        for k, v in next(
            iter(data.load("audio", "train", batch_size=2048, seed=5, **SMALL))
        ).items()
    }
    ordered = _batch("train", 2048)
    ordered_train = {
        k: v.numpy()
        for k, v in next(
            iter(data.load("audio", "train", batch_size=2048, shuffle=False, **SMALL))
        ).items()
    }

    def key(a):
        return sorted(map(bytes, a))

    assert key(shuffled["audio"]) == key(ordered_train["audio"]) == key(ordered["audio"])
    assert not np.array_equal(shuffled["audio"], ordered_train["audio"])


def test_clips_are_periodic_audio_not_noise():
    waveform = audio.mu_law_decode(_batch("test", 16)["audio"]).numpy()
    # Harmonic tones: strong correlation between neighbouring samples.
    corr = [np.corrcoef(w[:-1], w[1:])[0, 1] for w in waveform if w.std() > 1e-3]
    assert np.median(corr) > 0.9


def test_speakers_differ_in_timbre():
    """A nearest-centroid classifier on time-averaged log-mel features beats chance."""
    train, test = _batch("train", 512), _batch("test", 256)

    def features(b):
        return b["mel"].mean(axis=1) - b["mel"].mean(axis=(1, 2))[:, None]

    centroids = np.stack([features(train)[train["speaker"] == s].mean(0) for s in range(4)])
    distances = ((features(test)[:, None] - centroids[None]) ** 2).sum(-1)
    accuracy = np.mean(distances.argmin(1) == test["speaker"])
    assert accuracy > 0.6  # chance is 0.25


def test_mu_law_matches_the_paper_formula():
    x = np.linspace(-1, 1, 2001)
    companded = np.sign(x) * np.log1p(255 * np.abs(x)) / np.log1p(255)  # Sec. 2.2
    expected = np.round((companded + 1) * 127.5).astype(np.int32)
    codes = audio.mu_law_encode(x).numpy()
    np.testing.assert_array_equal(codes, expected)
    assert codes[0] == 0 and codes[-1] == 255 and codes[1000] in (127, 128)
    decoded = audio.mu_law_decode(codes).numpy()
    y = codes / 127.5 - 1
    np.testing.assert_allclose(
        decoded, np.sign(y) * ((1 + 255) ** np.abs(y) - 1) / 255, rtol=1e-5, atol=1e-6
    )
    # Quantisation error is small where the signal is small (the point of companding).
    small = np.abs(x) < 0.01
    assert np.max(np.abs(decoded - x)[small]) < 3e-4
    assert np.max(np.abs(decoded - x)) < 0.025


def test_log_mel_frames_locate_a_pure_tone():
    t = np.arange(4096) / 16000.0
    mels = [
        audio.log_mel_frames(
            np.sin(2 * np.pi * f * t).astype(np.float32),
            frame_length=512,
            hop_length=256,
            num_mels=32,
        ).numpy()
        for f in (300.0, 3000.0)
    ]
    assert mels[0].shape == (16, 32)
    low, high = (m[4:12].mean(0).argmax() for m in mels)
    assert low < high
    # The band with the most energy contains the tone (mel scale of the filterbank).
    edges = 700 * (
        10
        ** (np.linspace(2595 * np.log10(1 + 40 / 700), 2595 * np.log10(1 + 7600 / 700), 34) / 2595)
        - 1
    )
    assert edges[low] < 300 < edges[low + 2] and edges[high] < 3000 < edges[high + 2]


@pytest.mark.parametrize(
    "options,match",
    [
        ({"clip_length": 1000}, "multiple of hop_length"),
        ({"num_speakers": 9}, "num_speakers"),
        ({"num_mels": 0}, "num_mels"),
        ({"speech": "yes"}, "speech"),
    ],
)
def test_bad_options(options, match):
    with pytest.raises(ValueError, match=match):
        data.info("audio", **{**SMALL, **options})


def test_speech_needs_espeak(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ValueError, match="espeak-ng"):
        data.info("audio", speech=True)
