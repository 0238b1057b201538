"""A NumPy reference of Parallel WaveNet's power loss, written from arXiv 1711.10433 Sec. 3.2.1.

phi(x) = |STFT(x)|^2 averaged over time frames,  loss = ||phi(g) - phi(y)||^2
"""

import numpy as np


def average_power_numpy(waveform, frame_length, frame_step):
    """|STFT|^2 averaged over frames: periodic Hann frames, zero-padded end, np.fft.rfft."""
    waveform = np.asarray(waveform, np.float64)
    length = waveform.shape[-1]
    num_frames = -(-length // frame_step)
    padded = np.zeros(waveform.shape[:-1] + ((num_frames - 1) * frame_step + frame_length,))
    padded[..., :length] = waveform
    n = np.arange(frame_length)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / frame_length)
    fft_length = 1 << (frame_length - 1).bit_length()
    frames = np.stack(
        [padded[..., i * frame_step : i * frame_step + frame_length] for i in range(num_frames)],
        axis=-2,
    )
    spectrum = np.fft.rfft(frames * window, n=fft_length, axis=-1)
    return np.mean(np.abs(spectrum) ** 2, axis=-2)


def power_loss_numpy(generated, real, frame_length, frame_step):
    """||phi(generated) - phi(real)||^2 with phi the time-averaged |STFT|^2, float64."""
    difference = average_power_numpy(generated, frame_length, frame_step) - average_power_numpy(
        real, frame_length, frame_step
    )
    return np.sum(difference**2, axis=-1)
