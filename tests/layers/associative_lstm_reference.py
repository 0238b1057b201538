"""A NumPy reference of the Associative LSTM (arXiv 1602.03032), in complex128.

Written from the paper's equations with NumPy's complex numbers and explicit
permutation matrices, not from the code under test. Only the layout of the
weight columns is shared with `AssociativeLSTMCell`: `g_f, g_i, g_o` (n each),
then `r_i, r_o, u` (real parts, then imaginary parts, 2n each).
"""

import numpy as np


def bound(h):
    """Sec. 4: `h ⊘ max(1, |h|)` element-wise, for a complex array."""
    return h / np.maximum(1.0, np.abs(h))


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def to_complex(real):
    """`[Re, Im]` halves of a real array [..., 2n] -> complex128 [..., n]."""
    n = real.shape[-1] // 2
    return real[..., :n].astype(np.float64) + 1j * real[..., n:].astype(np.float64)


def to_real(z):
    """complex [..., n] -> the real layout [..., 2n] = `[Re z, Im z]`."""
    return np.concatenate([z.real, z.imag], axis=-1)


def permutation_matrices(permutations):
    """Sec. 3: `P_s` as 0/1 matrices, `(P_s r)[j] = r[permutations[s, j]]`."""
    n = permutations.shape[-1]
    return [np.eye(n)[p] for p in permutations]


def step(x, h, cells, kernel, recurrent_kernel, bias, permutations):
    """One step of Sec. 4's equations.

    Args:
      x: real [batch, input_dim].
      h: complex [batch, n], the previous output.
      cells: complex [batch, num_copies, n], the previous traces `c_s`.
      kernel, recurrent_kernel, bias: the real weights `W_x` [input_dim, 9n],
        `W_h` [2n, 9n] (acting on `[Re h, Im h]`), `b` [9n].
      permutations: int [num_copies, n].

    Returns:
      (h_t complex [batch, n], cells complex [batch, num_copies, n]).
    """
    n = h.shape[-1]
    z = x.astype(np.float64) @ kernel + to_real(h) @ recurrent_kernel + bias
    g_f, g_i, g_o = (sigmoid(z[:, k * n : (k + 1) * n]) for k in range(3))
    r_i, r_o, u = (
        bound(to_complex(z[:, start : start + 2 * n])) for start in (3 * n, 5 * n, 7 * n)
    )
    matrices = permutation_matrices(permutations)
    new_cells = np.stack(
        [g_f * cells[:, s] + (r_i @ P.T) * (g_i * u) for s, P in enumerate(matrices)], axis=1
    )
    read = np.mean([(r_o @ P.T) * new_cells[:, s] for s, P in enumerate(matrices)], axis=0)
    return g_o * bound(read), new_cells
