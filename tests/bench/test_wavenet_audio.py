"""Smoke test of bench/wavenet_audio.py: teacher, student, sample quality, WAVs, spectrogram."""

import math
import wave

from tests.bench import smoke


def test_wavenet_audio_tiny(tmp_path):
    out = smoke.run(
        "wavenet_audio",
        f"--work_dir={tmp_path / 'runs'}",
        f"--output_dir={tmp_path / 'out'}",
        "--temperature=0.5",
    )
    results, quality, machine = smoke.tables(out)

    assert results.header == ["quantity", "value", "detail"]
    teacher_wav = tmp_path / "out" / "wavenet_teacher_sample.wav"
    student_wav = tmp_path / "out" / "parallel_wavenet_sample.wav"
    # --tiny: 1024 generated samples, 0.064 s at 16 kHz.
    assert results.column("quantity") == [
        "mu-law marginal (unigram) baseline, test NLL",
        "WaveNet teacher, test NLL",
        "student KL / sample, before -> after",
        "0.064 s from the teacher (fast XLA, incl. compile)",
        "0.064 s from the student (one pass, incl. tracing)",
    ]
    baseline, teacher = (smoke.number(row[1], low=0) for row in results.rows[:2])
    # Bits are nats / ln 2.
    for row in results.rows[:2]:
        nats, bits = smoke.number(row[1]), smoke.number(row[2])
        assert abs(bits - nats / 0.6931472) < 2e-3
    # 256 mu-law levels: the baseline is below uniform (ln 256 = 5.55 nats).
    assert baseline < 5.546
    assert teacher < 4 * 5.546  # 3 steps from the initial weights: not a runaway loss
    # KL before -> after, and cross-entropy and entropy before -> after (Monte Carlo estimates).
    assert len(smoke.numbers(results.rows[2][1])) == 2
    assert len(smoke.numbers(results.rows[2][2])) == 4
    assert all(math.isfinite(v) for v in smoke.numbers(" ".join(results.rows[2][1:])))
    for row, path in zip(results.rows[3:], (teacher_wav, student_wav)):
        smoke.number(row[1], low=0)
        assert row[2] == str(path)

    # --temperature=0.5 adds a second teacher row, the default temperature 1 being the first.
    assert quality.column("clips") == [
        "other real test clips (floor)",
        "mu-law marginal (unigram) samples (ceiling)",
        "WaveNet teacher, temperature 1",
        "WaveNet teacher, temperature 0.5",
        "Parallel WaveNet student",
    ]
    distance = [smoke.number(c, low=0) for c in quality.column("spectral distance (dB)")]
    aperiodicity = [smoke.number(c, 0, 1) for c in quality.column("aperiodicity")]
    pitch = [
        [smoke.number(c, 0, 100) for c in quality.column(name)]
        for name in ("voiced", "own register", "other registers")
    ]
    for voiced, own, others in zip(*pitch):
        assert own <= voiced and others <= voiced
    # The ceiling's i.i.d. codes have no pitch, and their spectrum is far from the real one.
    assert [column[1] for column in pitch] == [0, 0, 0]
    assert distance[1] > distance[0] and aperiodicity[1] > aperiodicity[0]
    assert machine.header == ["limit", "measured"]

    for path in (teacher_wav, student_wav):
        with wave.open(str(path), "rb") as handle:
            assert (
                handle.getnchannels(),
                handle.getsampwidth(),
                handle.getframerate(),
                handle.getnframes(),
            ) == (1, 2, 16000, 1024)
    smoke.assert_png(tmp_path / "out" / "wavenet_spectrogram.png")
    # --tiny: 3 teacher steps at learning rate 2e-3, then 2 student steps.
    assert (tmp_path / "runs" / "teacher_tiny_3_lr0.002").is_dir()
    assert (tmp_path / "runs" / "student_teacher_tiny_3_lr0.002_2").is_dir()
