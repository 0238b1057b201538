"""Smoke test of bench/wavenet_audio.py: teacher, student, WAVs, spectrogram and profile."""

import math
import wave

from tests.bench import smoke


def test_wavenet_audio_tiny(tmp_path):
    out = smoke.run(
        "wavenet_audio", f"--work_dir={tmp_path / 'runs'}", f"--output_dir={tmp_path / 'out'}"
    )
    results, profile = smoke.tables(out)

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

    for path in (teacher_wav, student_wav):
        with wave.open(str(path), "rb") as handle:
            assert (
                handle.getnchannels(),
                handle.getsampwidth(),
                handle.getframerate(),
                handle.getnframes(),
            ) == (1, 2, 16000, 1024)
    smoke.assert_png(tmp_path / "out" / "wavenet_spectrogram.png")
    assert (tmp_path / "runs" / "teacher_tiny").is_dir()
    assert (tmp_path / "runs" / "student_tiny").is_dir()

    assert profile.header == ["loop does", "us/sample", "part", "share"]
    assert profile.column("loop does") == [
        "loop only",
        "+ dilated conv matmuls",
        "+ queue gather/scatter",
        "+ conditioning, gate, residual/skip 1x1s",
        "+ output head",
        "+ sampling (= fast XLA generation)",
    ]
    for row in profile.rows:
        assert smoke.number(row[1]) > 0
        smoke.number(row[2])
        smoke.number(row[3])
