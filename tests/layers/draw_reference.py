"""A NumPy reference of DRAW's filterbank, read and write (arXiv 1502.04623, Sec. 3.2-3.3).

Written from the paper, in its 1-based coordinates: pixel positions a = 1..A
(columns, the width) and b = 1..B (rows, the height), filter index i = 1..N,

    gX = (A + 1) / 2 (g~X + 1),  gY = (B + 1) / 2 (g~Y + 1)          (Eqs. 22-23)
    delta = (max(A, B) - 1) / (N - 1) delta~                          (Eq. 24)
    mu_X^i = gX + (i - N/2 - 0.5) delta                              (Eqs. 19-20)
    F_X[i, a] = exp(-(a - mu_X^i)^2 / (2 sigma^2)) / Z_X              (Eqs. 25-26)
    read = gamma [F_Y x F_X^T, F_Y x^ F_X^T],  write = F_Y^T w F_X / gamma  (Eqs. 27, 29)

Shared by `tests/layers/test_draw_attention.py` and `tests/models/test_draw.py`.
"""

import math

import numpy as np


def reference_filterbank(params, n, height, width):
    """F_X [batch, n, width], F_Y [batch, n, height], gamma [batch], float64, from the paper."""
    batch = len(params)
    f_x, f_y = np.zeros([batch, n, width]), np.zeros([batch, n, height])
    gamma = np.exp(params[:, 4])
    for k, (gx_tilde, gy_tilde, log_sigma2, log_delta, _) in enumerate(params):
        g_x = (width + 1) / 2 * (gx_tilde + 1)
        g_y = (height + 1) / 2 * (gy_tilde + 1)
        delta = (max(width, height) - 1) / (n - 1) * math.exp(log_delta) if n > 1 else 0.0
        sigma2 = math.exp(log_sigma2)
        for i in range(1, n + 1):
            mu_x = g_x + (i - n / 2 - 0.5) * delta
            mu_y = g_y + (i - n / 2 - 0.5) * delta
            row_x = [math.exp(-((a - mu_x) ** 2) / (2 * sigma2)) for a in range(1, width + 1)]
            row_y = [math.exp(-((b - mu_y) ** 2) / (2 * sigma2)) for b in range(1, height + 1)]
            f_x[k, i - 1] = np.array(row_x) / sum(row_x)
            f_y[k, i - 1] = np.array(row_y) / sum(row_y)
    return f_x, f_y, gamma


def reference_read(params, n, image, error_image):
    f_x, f_y, gamma = reference_filterbank(params, n, *image.shape[1:])
    glimpses = [
        np.einsum("kib,kba,kja->kij", f_y, x, f_x).reshape(len(x), -1) for x in (image, error_image)
    ]
    return gamma[:, None] * np.concatenate(glimpses, axis=-1)


def reference_write(params, patch, height, width):
    f_x, f_y, gamma = reference_filterbank(params, patch.shape[1], height, width)
    return np.einsum("kib,kij,kja->kba", f_y, patch, f_x) / gamma[:, None, None]
