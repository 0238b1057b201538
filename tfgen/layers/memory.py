"""Content-addressed external memory with usage-based allocation (the dense core).

The memory-augmented network of Rae et al. 2016 (arXiv 1610.09027, Sec. 3),
in its dense form ("DAM", the baseline the paper compares SAM with): an LSTM
controller reads and writes an external memory `M` of `memory_size` (N)
words of `word_size` (W) through `num_reads` (H) content-based read heads
and one write head. There are no temporal links (the DNC's linkage matrix);
locations are allocated by usage: the write goes to the previously read
locations and to the least recently accessed one, which is erased first.

One step, with the controller's output `h_t` giving the read keys `q`, the
read strengths `beta`, the write vector `a` and the gates `alpha`, `gamma`:

- write (Sec. 3.2): `w^W_t = alpha (gamma w^R_{t-1} + (1 - gamma) I^U_t)`,
  `M_t = (1 - I^U_t 1^T) * M_{t-1} + w^W_t a^T`, where `I^U_t` is the one-hot
  of the least recently accessed word and `w^R_{t-1}` the previous read
  weights averaged over the heads;
- read (Sec. 3.1): `w^R_t(i) = softmax_i(beta cos(q, M_t(i)))`,
  `r_t = sum_i w^R_t(i) M_t(i)`;
- usage (Supp. A): a word's last access time is the last step at which
  `w^W(i) + sum_heads w^R(i) > usage_threshold` (delta); the least recently
  accessed word is the one with the earliest such time (the first on ties).

The shared pieces (`MemoryController`, `cosine_similarity`) are used by the
sparse core, `tfgen.layers.SparseMemory`, as well.
"""

import tensorflow as tf

from tfgen.checks import check_float, check_int

# 1610.09027 Supp. A: an access counts when its weight exceeds delta = 0.005.
DEFAULT_USAGE_THRESHOLD = 0.005
_EPSILON = 1e-6


def cosine_similarity(keys, words):
    """Cosine similarity of each key with each word.

    Args:
      keys: float tensor [B, H, W], one key per head.
      words: float tensor [B, H, K, W] (words per head) or [B, 1, K, W]
        (the same words for every head, e.g. the whole memory).

    Returns:
      Float tensor [B, H, K]: `q . m / (|q| |m| + eps)`. The norms are taken
      as `sqrt(|x|^2 + eps^2)`, so that an all-zero word (an empty memory
      slot) has a finite gradient.
    """
    dots = tf.linalg.matvec(words, keys)
    return dots / (_norm(keys)[..., None] * _norm(words) + _EPSILON)


def _norm(vectors):
    """`sqrt(|x|^2 + eps^2)` over the last axis: the norm, differentiable at zero."""
    return tf.sqrt(tf.reduce_sum(tf.square(vectors), axis=-1) + _EPSILON**2)


def write_weights(write_gate, allocation_gate, previous_reads, least_used):
    """1610.09027 Sec. 3.2: `alpha (gamma w^R_{t-1} + (1 - gamma) I^U_t)`.

    Args:
      write_gate, allocation_gate: float [B], `alpha` and `gamma`.
      previous_reads: float [B, L], the previous read weights (averaged over
        the heads) of the L locations that are written.
      least_used: float [B, L], `I^U_t` over those locations: 1 at the least
        recently accessed word.

    Returns:
      Float [B, L], the write weights.
    """
    gamma = allocation_gate[:, None]
    return write_gate[:, None] * (gamma * previous_reads + (1.0 - gamma) * least_used)


def least_recently_accessed(last_access):
    """The word with the earliest last access time, the first on ties: int32 [B]."""
    return tf.argmin(last_access, axis=-1, output_type=tf.int32)


@tf.keras.saving.register_keras_serializable(package="tfgen")
class MemoryController(tf.keras.layers.Layer):
    """The LSTM controller of a memory core and its interface to the memory.

    At each step the controller reads the input and the previous reads, and
    its output `h_t` is mapped linearly to the interface of 1610.09027 Sec. 3:
    the read keys, the read strengths (`1 + softplus`), the write vector and
    the write and allocation gates (sigmoids).

    Reference:
      Rae, Hunt, Harley, Danihelka, Senior, Wayne, Graves and Lillicrap 2016,
      "Scaling Memory-Augmented Neural Networks with Sparse Reads and
      Writes", arXiv 1610.09027, Sec. 3.1 (reads), Sec. 3.2 (writes), Sec. 3.3 (the controller).

    Args:
      units: int, LSTM units of the controller.
      word_size: int W, the width of a memory word.
      num_reads: int H, the read heads.

    Call arguments:
      inputs: float tensor [B, I], the input of the step.
      reads: float tensor [B, H * W], the previous step's reads.
      states: the LSTM states `[h, c]`, each [B, units].

    Returns:
      `(h, states, interface)`: the controller output [B, units], its new
      states, and a dict with `keys` [B, H, W], `strengths` [B, H],
      `write_vector` [B, W], `write_gate` [B] and `allocation_gate` [B].

    Example:

    >>> controller = MemoryController(units=8, word_size=4, num_reads=2)
    >>> states = [tf.zeros([3, 8]), tf.zeros([3, 8])]
    >>> h, states, interface = controller(tf.zeros([3, 5]), tf.zeros([3, 8]), states)
    >>> h.shape, interface["keys"].shape
    (TensorShape([3, 8]), TensorShape([3, 2, 4]))
    """

    def __init__(self, units, word_size, num_reads=1, **kwargs):
        super().__init__(**kwargs)
        self.units = check_int(units, "units")
        self.word_size = check_int(word_size, "word_size")
        self.num_reads = check_int(num_reads, "num_reads")
        self.lstm = tf.keras.layers.LSTMCell(self.units, name="lstm", dtype=self.dtype_policy)
        heads, width = self.num_reads, self.word_size
        self.interface = tf.keras.layers.Dense(
            heads * width + heads + width + 2, name="interface", dtype=self.dtype_policy
        )

    def build(self, input_shape):
        inputs = input_shape[-1] + self.num_reads * self.word_size
        # Name scopes keep the weights' names unique (HDF5 weight files need it).
        with tf.name_scope(self.lstm.name):
            self.lstm.build((None, inputs))
        with tf.name_scope(self.interface.name):
            self.interface.build((None, self.units))
        super().build(input_shape)

    def call(self, inputs, reads, states):
        h, states = self.lstm(tf.concat([inputs, reads], axis=-1), states)
        heads, width = self.num_reads, self.word_size
        keys, strengths, write_vector, gates = tf.split(
            self.interface(h), [heads * width, heads, width, 2], axis=-1
        )
        gates = tf.sigmoid(gates)
        interface = dict(
            keys=tf.reshape(keys, [-1, heads, width]),
            strengths=1.0 + tf.nn.softplus(strengths),
            write_vector=write_vector,
            write_gate=gates[:, 0],
            allocation_gate=gates[:, 1],
        )
        return h, states, interface

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, word_size=self.word_size, num_reads=self.num_reads)
        return config


@tf.keras.saving.register_keras_serializable(package="tfgen")
class DenseMemoryCell(tf.keras.layers.Layer):
    """A memory core with dense content-based reads and usage-based writes, as an RNN cell.

    The dense access memory of 1610.09027 (see the module docstring): every
    read and write touches all N words, and backpropagation through time keeps
    a copy of the memory per step. Wrap it in `tf.keras.layers.RNN`.

    Reference:
      Rae, Hunt, Harley, Danihelka, Senior, Wayne, Graves and Lillicrap 2016,
      "Scaling Memory-Augmented Neural Networks with Sparse Reads and
      Writes", arXiv 1610.09027, Sec. 3.1 (reads), Sec. 3.2 (writes), Supp. A (usage).

    Args:
      units: int, LSTM units of the controller.
      memory_size: int N, the words of the memory.
      word_size: int W, the width of a word.
      num_reads: int H, the read heads.
      usage_threshold: float delta, the weight above which a word counts as accessed.

    Call arguments:
      inputs: float tensor [B, I].
      states: `[h, c, memory [B, N, W], last_access [B, N], read_weights [B, H, N],
        reads [B, H * W], time [B, 1]]`; zeros at the start.

    Returns:
      `(outputs, states)`: outputs [B, units + H * W], the controller output
      and the reads, and the new states.

    Example:

    >>> cell = DenseMemoryCell(units=8, memory_size=16, word_size=4)
    >>> tf.keras.layers.RNN(cell)(tf.zeros([2, 5, 3])).shape
    TensorShape([2, 12])
    """

    def __init__(
        self,
        units,
        memory_size,
        word_size,
        num_reads=1,
        usage_threshold=DEFAULT_USAGE_THRESHOLD,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.memory_size = check_int(memory_size, "memory_size")
        self.usage_threshold = check_float(usage_threshold, "usage_threshold", 0.0, 1.0)
        self.controller = MemoryController(
            units, word_size, num_reads, name="controller", dtype=self.dtype_policy
        )
        self.units, self.word_size, self.num_reads = units, word_size, num_reads

    @property
    def state_size(self):
        n, w, heads = self.memory_size, self.word_size, self.num_reads
        shape = tf.TensorShape
        return [self.units, self.units, shape([n, w]), n, shape([heads, n]), heads * w, 1]

    @property
    def output_size(self):
        return self.units + self.num_reads * self.word_size

    def build(self, input_shape):
        self.controller.build(input_shape)
        super().build(input_shape)

    def call(self, inputs, states):
        h, c, memory, last_access, read_weights, reads, time = states
        out, (h, c), interface = self.controller(inputs, reads, [h, c])
        # Sec. 3.2: write to the previously read words and the least recently accessed one,
        least_used = tf.one_hot(
            least_recently_accessed(last_access), self.memory_size, dtype=memory.dtype
        )
        previous_reads = tf.reduce_mean(read_weights, axis=1)
        written = write_weights(
            interface["write_gate"], interface["allocation_gate"], previous_reads, least_used
        )
        # which is erased first: M_t = (1 - I^U 1^T) * M_{t-1} + w^W a^T.
        memory = memory * (1.0 - least_used[..., None]) + (
            written[..., None] * interface["write_vector"][:, None]
        )
        # Sec. 3.1: content-based read weights over all N words.
        similarity = cosine_similarity(interface["keys"], memory[:, None])
        read_weights = tf.nn.softmax(interface["strengths"][..., None] * similarity)
        reads = tf.reshape(tf.matmul(read_weights, memory), [-1, self.num_reads * self.word_size])
        # Supp. A: the last access time of every word whose weights exceed delta.
        time = time + 1.0
        accessed = written + tf.reduce_sum(read_weights, axis=1) > self.usage_threshold
        last_access = tf.where(accessed, time, last_access)
        outputs = tf.concat([out, reads], axis=-1)
        return outputs, [h, c, memory, last_access, read_weights, reads, time]

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            memory_size=self.memory_size,
            word_size=self.word_size,
            num_reads=self.num_reads,
            usage_threshold=self.usage_threshold,
        )
        return config
