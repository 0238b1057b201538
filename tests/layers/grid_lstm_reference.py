"""A NumPy reference of Grid LSTM (arXiv 1507.01526), written from the paper's equations.

Weights are passed per dimension as `(W, b)`: for an LSTM transform `W` is
[N d, 4 d] with its columns in the paper's gate order `g_u, g_f, g_o, g_c`;
for a non-LSTM dimension it is `V` [N d, d].
"""

import numpy as np


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def lstm(H, m, W, b, output_form="paper"):
    """Sec. 2.1: `(h', m') = LSTM(H, m, W)`; the memory enters only through the gates."""
    d = m.shape[-1]
    z = H @ W + b
    g_u = sigmoid(z[:, :d])
    g_f = sigmoid(z[:, d : 2 * d])
    g_o = sigmoid(z[:, 2 * d : 3 * d])
    g_c = np.tanh(z[:, 3 * d :])
    m_new = g_f * m + g_u * g_c
    if output_form == "paper":
        h_new = np.tanh(g_o * m_new)
    else:  # Hochreiter & Schmidhuber's output, as Keras' LSTMCell computes it
        h_new = g_o * np.tanh(m_new)
    return h_new, m_new


def block(hiddens, memories, weights, priority=(), non_lstm=(), alpha=np.tanh, output_form="paper"):
    """One N-dimensional block (Secs. 3.1-3.3).

    The dimensions not in `priority` read `H = [h_1; ...; h_N]`. Then each
    priority dimension, in order, reads the hidden vectors as they stand:
    outputs for the dimensions already computed, inputs for the others (for
    one priority dimension 1: `H' = [h_1; h'_2; ...; h'_N]`). A non-LSTM
    dimension computes `alpha(V H + c)` and has no memory (its memory is
    returned as it came).
    """
    out_h, out_m = list(hiddens), list(memories)

    def transform(i, H):
        W, b = weights[i]
        if i in non_lstm:
            return alpha(H @ W + b), memories[i]
        return lstm(H, memories[i], W, b, output_form)

    H = np.concatenate(hiddens, axis=-1)
    for i in range(len(hiddens)):
        if i not in priority:
            out_h[i], out_m[i] = transform(i, H)
    for i in priority:
        out_h[i], out_m[i] = transform(i, np.concatenate(out_h, axis=-1))
    return out_h, out_m


def grid_1d(x, projection, layer_weights, output_form="paper"):
    """The 1-LSTM over depth: `h_0 = x I` (`I` = projection), `m_0 = 0`, one block per layer."""
    h = x @ projection
    m = np.zeros_like(h)
    for W, b in layer_weights:
        h, m = lstm(h, m, W, b, output_form)
    return h


def grid_2d(xs, projection, layer_weights, prioritize_depth=True, output_form="paper"):
    """The 2-LSTM over a sequence `xs` [batch, time, input_dim], from zero states.

    `layer_weights[l] = [(W_time, b_time), (W_depth, b_depth)]`; the block's
    hidden vectors are ordered `[h_time; h_depth]`.

    Returns:
      (outputs [batch, time, d], final states `[h^t_1, m^t_1, ..., h^t_L, m^t_L]`).
    """
    batch, steps, _ = xs.shape
    d = projection.shape[1]
    states = [np.zeros((batch, d)) for _ in range(2 * len(layer_weights))]
    outputs = []
    for t in range(steps):
        h_depth = xs[:, t] @ projection
        m_depth = np.zeros_like(h_depth)
        for layer, weights in enumerate(layer_weights):
            (h_time, h_depth), (m_time, m_depth) = block(
                [states[2 * layer], h_depth],
                [states[2 * layer + 1], m_depth],
                weights,
                priority=(1,) if prioritize_depth else (),
                output_form=output_form,
            )
            states[2 * layer], states[2 * layer + 1] = h_time, m_time
        outputs.append(h_depth)
    return np.stack(outputs, axis=1), states
