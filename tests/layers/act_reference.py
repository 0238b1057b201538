"""A NumPy reference of Adaptive Computation Time, written from arXiv 1603.08983 Sec. 2.

One batch element at a time, with plain Python loops, as the paper writes it:

    s^1 = S(s_{t-1}, x^1), s^n = S(s^{n-1}, x^n), x^n = [x_t, delta_{n,1}]  (Eq. 3-4)
    h^n = sigmoid(W_h s^n + b_h)                                             (Eq. 5)
    N(t) = min(M, min{n' : sum_{n <= n'} h^n >= 1 - epsilon})       (Eq. 6, Sec. 2.1)
    R(t) = 1 - sum_{n < N(t)} h^n                                            (Eq. 7)
    p^n = h^n for n < N(t), p^N = R(t)                                       (Eq. 8)
    s_t = sum_n p^n s^n,  y_t = sum_n p^n y^n                                (Eq. 9-10)
    rho_t = N(t) + R(t)                                                      (Eq. 11)

A state is a list of 1-D arrays; the halting unit reads them concatenated in
list order. Transitions follow the Keras cells' equations and weight layouts
(`SimpleRNNCell`: tanh; `LSTMCell`: gates i, f, c, o, state [h, c]).
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def simple_rnn_transition(kernel, recurrent_kernel, bias):
    """`(x, [s]) -> (y, [s'])` with `s' = tanh(x K + s U + b)`, `y = s'`."""

    def transition(x, state):
        (s,) = state
        new = np.tanh(x @ kernel + s @ recurrent_kernel + bias)
        return new, [new]

    return transition


def lstm_transition(kernel, recurrent_kernel, bias):
    """`(x, [h, c]) -> (h', [h', c'])`, the LSTM with Keras's gate order (i, f, c, o)."""

    def transition(x, state):
        h, c = state
        i, f, g, o = np.split(x @ kernel + h @ recurrent_kernel + bias, 4)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        return h, [h, c]

    return transition


def halting_distribution(halting, epsilon, max_steps):
    """N, R and p^1..p^N from the halting values h^1, h^2, ... (Eq. 6-8; the cap M of Sec. 2.1).

    Args:
      halting: sequence of at least N halting values h^n in (0, 1).
      epsilon: the halting threshold is 1 - epsilon.
      max_steps: the cap M.

    Returns:
      `(N, R, p)`: int, float, array [N].
    """
    total = 0.0
    for n, h in enumerate(halting, start=1):
        if total + h >= 1.0 - epsilon or n == max_steps:
            remainder = 1.0 - total
            return n, remainder, np.append(np.asarray(halting[: n - 1]), remainder)
        total += h
    raise ValueError("halting: not enough values to reach the halting threshold.")


def act_step(x, state, transition, w_h, b_h, epsilon, max_steps):
    """One input step of one element: `(y_t, s_t, N, R, halting values)`."""
    outputs, states, halting = [], [], []
    for n in range(1, max_steps + 1):
        flagged = np.append(x, 1.0 if n == 1 else 0.0)
        y, state = transition(flagged, state)
        h = sigmoid(np.concatenate(state) @ w_h + b_h).item()
        outputs.append(y)
        states.append(state)
        halting.append(h)
        if sum(halting) >= 1.0 - epsilon:
            break
    steps, remainder, p = halting_distribution(halting, epsilon, max_steps)
    y_t = sum(p_n * y for p_n, y in zip(p, outputs))
    s_t = [sum(p_n * s[k] for p_n, s in zip(p, states)) for k in range(len(state))]
    return y_t, s_t, steps, remainder, halting


def act_sequence(xs, state, transition, w_h, b_h, epsilon, max_steps):
    """ACT over a batch of sequences `xs` [B, T, D] from initial states (a list of [B, d]).

    Returns:
      dict of `outputs` [B, T, units], `states` (list of [B, d], the last
      states), `steps` [B, T] (N), `remainders` [B, T] (R), `ponder_costs`
      [B, T] (rho = N + R) and `halting` (per element and step, the list of
      the h^n computed).
    """
    outputs, steps, remainders, halting, finals = [], [], [], [], []
    for b in range(xs.shape[0]):
        s = [leaf[b] for leaf in state]
        rows = []
        for x in xs[b]:
            y, s, n, r, h = act_step(x, s, transition, w_h, b_h, epsilon, max_steps)
            rows.append((y, n, r, h))
        outputs.append([row[0] for row in rows])
        steps.append([row[1] for row in rows])
        remainders.append([row[2] for row in rows])
        halting.append([row[3] for row in rows])
        finals.append(s)
    steps, remainders = np.asarray(steps, float), np.asarray(remainders)
    return {
        "outputs": np.asarray(outputs),
        "states": [np.stack([f[k] for f in finals]) for k in range(len(state))],
        "steps": steps,
        "remainders": remainders,
        "ponder_costs": steps + remainders,
        "halting": halting,
    }
