"""A NumPy reference of the dense and sparse memory cores of arXiv 1610.09027 (Sec. 3, Supp. A).

One batch element at a time, with plain Python loops over the steps, as the
paper writes it (N words of width W, H read heads, K neighbours):

    h_t = LSTM([x_t, r_{t-1}])                     the controller (Keras LSTMCell)
    [q, beta_hat, a, alpha_hat, gamma_hat] = h_t W_p + b_p    the interface
    beta = 1 + softplus(beta_hat), alpha = sigmoid(alpha_hat), gamma = sigmoid(gamma_hat)
    I^U_t = onehot(argmin_i last_access(i))        the least recently accessed word
    w^W_t = alpha (gamma wbar^R_{t-1} + (1 - gamma) I^U_t)                     (Sec. 3.2)
    M_t = (1 - I^U_t 1^T) * M_{t-1} + w^W_t a^T                                (Sec. 3.2)
    w^R_{t,h}(i) = softmax_{i in S_h}(beta_h cos(q_h, M_t(i))), 0 outside S_h  (Sec. 3.1)
    r_{t,h} = sum_i w^R_{t,h}(i) M_t(i)                                        (Sec. 3.1)
    last_access(i) = t where w^W_t(i) + sum_h w^R_{t,h}(i) > delta             (Supp. A)
    y_t = [h_t, r_{t,1}, ..., r_{t,H}]

`S_h` is every word for the dense core and the K words of largest cosine to
`q_h` for the sparse core (exact top-k, the lower index first on ties);
`wbar^R_{t-1}` is the previous step's read weights averaged over the heads.
Read weights are kept as dense [H, N] arrays, zero off the read words, so the
sparse core's write reaches exactly the previously read words and the least
used one. Everything runs in float64.
"""

import numpy as np

EPSILON = 1e-6
USAGE_THRESHOLD = 0.005


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def softplus(z):
    return np.logaddexp(0.0, z)


def softmax(z):
    e = np.exp(z - np.max(z))
    return e / np.sum(e)


def lstm_step(x, h, c, kernel, recurrent_kernel, bias):
    """One Keras `LSTMCell` step (gates i, f, c, o; tanh and sigmoid): returns `(h, c)`."""
    i, f, g, o = np.split(x @ kernel + h @ recurrent_kernel + bias, 4)
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c), c


def interface(p, word_size, num_reads):
    """Splits the controller's projection `p` [H W + H + W + 2] into the read and write terms.

    Returns:
      dict: `keys` [H, W], `strengths` [H] (1 + softplus), `write_vector` [W],
      `write_gate` and `allocation_gate` (sigmoids).
    """
    h, w = num_reads, word_size
    keys, strengths = p[: h * w].reshape(h, w), p[h * w : h * w + h]
    write_vector, gates = p[h * w + h : h * w + h + w], p[h * w + h + w :]
    assert gates.shape == (2,), gates.shape
    return dict(
        keys=keys,
        strengths=1.0 + softplus(strengths),
        write_vector=write_vector,
        write_gate=sigmoid(gates[0]),
        allocation_gate=sigmoid(gates[1]),
    )


def cosine(q, m):
    """`q . m / (|q| |m| + eps)` of one key and one word."""
    return float(np.dot(q, m) / (np.linalg.norm(q) * np.linalg.norm(m) + EPSILON))


def least_recently_accessed(last_access):
    """The word accessed longest ago; the first such word on ties."""
    earliest = min(last_access)
    return next(i for i, time in enumerate(last_access) if time == earliest)


def write_weights(write_gate, allocation_gate, previous_reads, least_used):
    """Sec. 3.2: `w^W = alpha (gamma wbar^R_{t-1} + (1 - gamma) I^U)` over the N words."""
    one_hot = np.zeros(len(previous_reads))
    one_hot[least_used] = 1.0
    return write_gate * (allocation_gate * previous_reads + (1.0 - allocation_gate) * one_hot)


def write_memory(memory, least_used, weights, write_vector):
    """Sec. 3.2: `M_t = (1 - I^U 1^T) * M_{t-1} + w^W a^T` (the least used word erased first)."""
    memory = memory.copy()
    memory[least_used] = 0.0
    return memory + np.outer(weights, write_vector)


def nearest(key, memory, num_neighbours):
    """The `num_neighbours` words of largest cosine to `key`, the lower index first on ties."""
    similarity = np.array([cosine(key, word) for word in memory])
    return np.argsort(-similarity, kind="stable")[:num_neighbours]


def read_weights(key, strength, memory, num_neighbours=None):
    """Sec. 3.1: softmax of `beta cos(q, M(i))` over all words, or over the K nearest only.

    Returns:
      Array [N], zero off the words read.
    """
    words = np.arange(len(memory))
    if num_neighbours is not None:
        words = nearest(key, memory, num_neighbours)
    weights = np.zeros(len(memory))
    weights[words] = softmax(strength * np.array([cosine(key, memory[i]) for i in words]))
    return weights


def update_last_access(last_access, write, reads, time, threshold=USAGE_THRESHOLD):
    """Supp. A: words with `w^W(i) + sum_h w^R_h(i) > delta` were accessed at `time`."""
    accessed = write + np.sum(reads, axis=0) > threshold
    return np.where(accessed, float(time), last_access)


def memory_core_element(x, weights, memory, last_access, num_reads, num_neighbours, threshold):
    """Runs one sequence `x` [T, I] from `memory` [N, W] and `last_access` [N].

    Returns:
      Outputs [T, units + H W] and the least used word of each step.
    """
    units = weights["recurrent_kernel"].shape[0]
    memory_size, word_size = memory.shape
    h, c = np.zeros(units), np.zeros(units)
    reads = np.zeros([num_reads, memory_size])  # w^R_{t-1}, one row per head
    read_vectors = np.zeros(num_reads * word_size)  # r_{t-1}
    outputs, least_used_words = [], []
    for t, x_t in enumerate(x, start=1):
        h, c = lstm_step(
            np.concatenate([x_t, read_vectors]),
            h,
            c,
            weights["kernel"],
            weights["recurrent_kernel"],
            weights["bias"],
        )
        p = interface(
            h @ weights["interface_kernel"] + weights["interface_bias"], word_size, num_reads
        )
        least_used = least_recently_accessed(last_access)
        write = write_weights(p["write_gate"], p["allocation_gate"], reads.mean(axis=0), least_used)
        memory = write_memory(memory, least_used, write, p["write_vector"])
        reads = np.stack(
            [
                read_weights(p["keys"][n], p["strengths"][n], memory, num_neighbours)
                for n in range(num_reads)
            ]
        )
        read_vectors = (reads @ memory).reshape(-1)
        last_access = update_last_access(last_access, write, reads, t, threshold)
        outputs.append(np.concatenate([h, read_vectors]))
        least_used_words.append(least_used)
    return np.stack(outputs), least_used_words


def memory_core(
    x,
    controller_weights,
    memory_size,
    word_size,
    num_reads,
    num_neighbours=None,
    usage_threshold=USAGE_THRESHOLD,
    initial_memory=None,
    initial_last_access=None,
    return_least_used=False,
):
    """The memory core over a batch of sequences.

    Args:
      x: array [B, T, I].
      controller_weights: dict of arrays: the LSTM's `kernel` [I + H W, 4 units],
        `recurrent_kernel` [units, 4 units] and `bias` [4 units] (Keras layout),
        and the interface's `interface_kernel` [units, H W + H + W + 2] and
        `interface_bias`.
      memory_size: N.
      word_size: W.
      num_reads: H.
      num_neighbours: None for the dense core, else K for the sparse core.
      usage_threshold: delta.
      initial_memory: array [B, N, W], M_0; zeros if None.
      initial_last_access: array [B, N], the last access times before t = 1; zeros if None.
      return_least_used: also return the least used word of every step.

    Returns:
      Array [B, T, units + H W] (float64); with `return_least_used`, also an
      int array [B, T] of the least recently accessed word at each write.
    """
    batch = len(x)
    if initial_memory is None:
        initial_memory = np.zeros([batch, memory_size, word_size])
    if initial_last_access is None:
        initial_last_access = np.zeros([batch, memory_size])
    weights = {k: np.asarray(v, np.float64) for k, v in controller_weights.items()}
    results = [
        memory_core_element(
            np.asarray(sequence, np.float64),
            weights,
            np.asarray(memory, np.float64),
            np.asarray(last_access, np.float64),
            num_reads,
            num_neighbours,
            usage_threshold,
        )
        for sequence, memory, last_access in zip(x, initial_memory, initial_last_access)
    ]
    outputs = np.stack([r[0] for r in results])
    if return_least_used:
        return outputs, np.array([r[1] for r in results])
    return outputs
