"""Sparse Access Memory (Rae et al. 2016, arXiv 1610.09027).

SAM is the memory core of `tfgen.layers.DenseMemoryCell` with every access
made sparse:

- reads (Sec. 3.1) are a softmax over only the `num_neighbours` (K) words
  nearest to each read key, found by exact top-k over the N words
  (`index="exact"`) or by an approximate nearest-neighbour index whose cost
  does not grow with N (`index="lsh"`, `tfgen.layers.LSHIndex`, Sec. 3.5);
- writes (Sec. 3.2) go to the H * K previously read words and to the least
  recently accessed word, which is erased first: K * H + 1 rows, applied as a
  sparse scatter;
- backpropagation through time (Sec. 3.4) keeps, per step, only the rows the
  step touched and the indices of those rows, O(T K W) in all, instead of a
  copy of the memory per step, O(T N W). The backward pass runs the steps in
  reverse and carries the gradient of the memory as one [B, N, W] buffer that
  each step updates at its O(K) rows only.

With `sparse_backprop=False` the same forward pass is differentiated by
TensorFlow's own autodiff: the reference the sparse backward pass is tested
against. Autodiff keeps O(N) per step (the usage record, which no gradient
needs) and adds a dense [B, N, W] memory gradient at every backward step.

The per-step cost is independent of N only when the loops are XLA-compiled
(e.g. `model.compile(..., jit_compile=True)`): XLA updates the memory, its
gradient, the usage record and the index in place, while graph mode copies
each of them at every step.
"""

import tensorflow as tf

from tfgen.checks import check_choice, check_float, check_int
from tfgen.layers.lsh_index import LSHIndex
from tfgen.layers.memory import (
    DEFAULT_USAGE_THRESHOLD,
    MemoryController,
    cosine_similarity,
    write_weights,
)
from tfgen.layers.ordering import after
from tfgen.layers.scatter import scatter_per_example
from tfgen.layers.usage import initial_usage, least_recently_used, record_access

INDEXES = ("exact", "lsh")
# 1610.09027 uses K = 4 nearest neighbours per read head.
DEFAULT_NUM_NEIGHBOURS = 4


def _per_slot_sums(slots, weights):
    """For each entry of `slots` [B, M], the sum of `weights` [B, M] over its equal entries."""
    same = tf.cast(tf.equal(slots[:, :, None], slots[:, None, :]), weights.dtype)
    return tf.linalg.matvec(same, weights)


@tf.keras.saving.register_keras_serializable(package="tfgen")
class SparseMemory(tf.keras.layers.Layer):
    """A sequence layer: an LSTM controller with a Sparse Access Memory.

    Each step reads K words per head and writes H * K + 1 words, and the
    backward pass touches only those rows; the per-step cost does not grow
    with N when the layer runs XLA-compiled (see the module docstring).

    Reference:
      Rae, Hunt, Harley, Danihelka, Senior, Wayne, Graves and Lillicrap 2016,
      "Scaling Memory-Augmented Neural Networks with Sparse Reads and
      Writes", arXiv 1610.09027, Sec. 3.1 (reads), Sec. 3.2 (writes), Sec. 3.4
      (sparse backpropagation), Sec. 3.5 (approximate neighbours).

    Args:
      units: int, LSTM units of the controller.
      memory_size: int N, the words of the memory.
      word_size: int W, the width of a word.
      num_reads: int H, the read heads.
      num_neighbours: int K <= N, the words each head reads (and each
        previously read word the write reaches).
      index: "exact" (top-k over all N words) or "lsh" (the approximate index
        `LSHIndex`, whose cost per step does not grow with N).
      usage_threshold: float delta, the weight above which a word counts as accessed.
      sparse_backprop: bool; True for the sparse backward pass of Sec. 3.4,
        False for TensorFlow's autodiff (a memory copy per step).
      index_options: dict of keyword arguments for `LSHIndex` (`num_tables`,
        `bucket_size`, `num_bits`, `seed`), for `index="lsh"`.

    Call arguments:
      inputs: float tensor [B, T, I].

    Returns:
      Float tensor [B, T, units + H * W]: at each step the controller output
      and the reads.

    Example:

    >>> layer = SparseMemory(units=8, memory_size=64, word_size=4, num_neighbours=2)
    >>> layer(tf.zeros([2, 5, 3])).shape
    TensorShape([2, 5, 12])
    """

    def __init__(
        self,
        units,
        memory_size,
        word_size,
        num_reads=1,
        num_neighbours=DEFAULT_NUM_NEIGHBOURS,
        index="exact",
        usage_threshold=DEFAULT_USAGE_THRESHOLD,
        sparse_backprop=True,
        index_options=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.memory_size = check_int(memory_size, "memory_size")
        self.num_neighbours = check_int(num_neighbours, "num_neighbours")
        if self.num_neighbours > self.memory_size:
            raise ValueError(
                f"num_neighbours: expected at most memory_size={self.memory_size}, "
                f"got {num_neighbours}."
            )
        self.index = check_choice(index, "index", INDEXES)
        self.usage_threshold = check_float(usage_threshold, "usage_threshold", 0.0, 1.0)
        self.sparse_backprop = bool(sparse_backprop)
        self.index_options = dict(index_options or {})
        self.controller = MemoryController(
            units, word_size, num_reads, name="controller", dtype=self.dtype_policy
        )
        self.units, self.word_size, self.num_reads = units, word_size, num_reads
        self.lsh = None
        if self.index == "lsh":
            self.lsh = LSHIndex(
                memory_size=self.memory_size,
                word_size=word_size,
                name="lsh",
                **self.index_options,
            )

    def build(self, input_shape):
        self.controller.build(input_shape[:1] + input_shape[2:])
        if self.lsh is not None:
            self.lsh.build(None)
        super().build(input_shape)

    # ------------------------------------------------------------------ steps
    @property
    def _locations(self):
        """The words a step writes: the H * K previously read ones and the least used one."""
        return self.num_reads * self.num_neighbours + 1

    @property
    def _accesses(self):
        """The words a step touches: the ones it writes, then the H * K ones it reads."""
        return self._locations + self.num_reads * self.num_neighbours

    def _write(self, inputs, state):
        """The differentiable part of a step up to the write.

        Args:
          inputs: [B, I], the step's input.
          state: `(h, c, reads [B, H * W], read_weights [B, H, K])` of the previous step.

        Returns:
          `(out, (h, c), interface, written [B, L], deltas [B, L, W])`: what the
          step adds to each of its L written locations (the previously read
          words, then the least used one, which is erased before).
        """
        h, c, reads, read_weights = state
        out, (h, c), interface = self.controller(inputs, reads, [h, c])
        locations = self._locations
        previous = tf.reshape(read_weights, [-1, locations - 1]) / self.num_reads
        previous = tf.pad(previous, [[0, 0], [0, 1]])
        least_used = tf.one_hot(locations - 1, locations, dtype=previous.dtype)[None]
        written = write_weights(
            interface["write_gate"], interface["allocation_gate"], previous, least_used
        )
        # Sec. 3.2: A_t = w^W a^T, over the written locations only.
        deltas = written[..., None] * interface["write_vector"][:, None]
        return out, (h, c), interface, written, deltas

    def _read(self, out, interface, rows):
        """The differentiable part of a step from the read on.

        Args:
          out: [B, units], the controller output.
          interface: the controller's interface dict.
          rows: [B, H, K, W], the K words each head reads.

        Returns:
          `(outputs [B, units + H * W], reads [B, H * W], read_weights [B, H, K])`.
        """
        # Sec. 3.1: a softmax over the K nearest words only.
        similarity = cosine_similarity(interface["keys"], rows)
        read_weights = tf.nn.softmax(interface["strengths"][..., None] * similarity)
        reads = tf.einsum("bhk,bhkw->bhw", read_weights, rows)
        reads = tf.reshape(reads, [-1, self.num_reads * self.word_size])
        return tf.concat([out, reads], axis=-1), reads, read_weights

    def _nearest(self, memory, keys, index_state):
        """int32 [B, H, K]: the words nearest (by cosine) to each key."""
        keys = tf.stop_gradient(keys)
        if self.lsh is not None:
            return self.lsh.nearest(index_state, memory, keys, self.num_neighbours)
        similarity = cosine_similarity(keys, tf.stop_gradient(memory)[:, None])
        return tf.math.top_k(similarity, self.num_neighbours).indices

    def _coupling(self, neighbours, slots, deltas):
        """The gradient path from a step's write to its own read (values: zeros).

        A word the step reads may be one it has just written; the saved row
        already holds the write, so only its gradient is added back.
        """
        match = tf.cast(tf.equal(neighbours[..., None], slots[:, None, None]), deltas.dtype)
        return tf.einsum("bhkl,blw->bhkw", match, deltas - tf.stop_gradient(deltas))

    # ---------------------------------------------------------------- forward
    def _initial_state(self, inputs, steps):
        batch = tf.shape(inputs)[0]
        dtype = inputs.dtype
        zeros = lambda *shape: tf.zeros([batch, *shape], dtype)  # noqa: E731
        heads, k = self.num_reads, self.num_neighbours
        small = (
            zeros(self.units),
            zeros(self.units),
            zeros(heads * self.word_size),
            zeros(heads, k),
        )
        memory = zeros(self.memory_size, self.word_size)
        usage = initial_usage(batch, self.memory_size, steps * self._accesses, dtype)
        neighbours = tf.zeros([batch, heads, k], tf.int32)
        index_state = () if self.lsh is None else self.lsh.empty_state(batch)
        return small, neighbours, memory, usage, index_state

    # Plain TensorFlow control flow in both passes: autograph would only slow tracing, 10x.
    @tf.autograph.experimental.do_not_convert
    def _forward(self, inputs, save):
        """Runs the steps: outputs [B, T, F] and, if `save`, what the backward pass needs."""
        steps = inputs.shape[1] or tf.shape(inputs)[1]
        time_major = tf.transpose(inputs, [1, 0, 2])
        arrays = lambda dtype: tf.TensorArray(dtype, size=steps)  # noqa: E731
        outputs = arrays(inputs.dtype)
        saved = {}
        if save:
            saved = dict(
                state=tuple(arrays(inputs.dtype) for _ in range(4)),
                slots=arrays(tf.int32),
                neighbours=arrays(tf.int32),
                rows=arrays(inputs.dtype),
            )

        def body(t, state, neighbours, memory, usage, index_state, outputs, saved):
            usage, least_used = least_recently_used(usage)
            out, (h, c), interface, written, deltas = self._write(time_major[t], state)
            slots = tf.concat(
                [tf.reshape(neighbours, [-1, self._locations - 1]), least_used[:, None]], axis=1
            )
            # Sec. 3.2: M_t = (1 - R_t) * M_{t-1} + A_t, R_t erasing the least used word.
            erased = tf.gather(memory, least_used, batch_dims=1)
            erase = tf.pad(-erased[:, None], [[0, 0], [self._locations - 1, 0], [0, 0]])
            memory = scatter_per_example(tf.tensor_scatter_nd_add, memory, [slots], deltas + erase)
            if self.lsh is not None:
                words = tf.gather(memory, slots, batch_dims=1)
                index_state = self.lsh.update(index_state, words, slots)
            new_neighbours = self._nearest(memory, interface["keys"], index_state)
            rows = tf.gather(memory, new_neighbours, batch_dims=1)
            if save:
                rows_read = rows + self._coupling(new_neighbours, slots, deltas)
            else:
                rows_read = rows
            step_outputs, reads, read_weights = self._read(out, interface, rows_read)
            # Supp. A: the last access time of every word whose weights exceed delta.
            new_neighbours_flat = tf.reshape(new_neighbours, [tf.shape(slots)[0], -1])
            touched = tf.concat([slots, new_neighbours_flat], 1)
            weights = tf.concat(
                [written, tf.reshape(read_weights, tf.shape(new_neighbours_flat))], 1
            )
            accessed = _per_slot_sums(touched, tf.stop_gradient(weights)) > self.usage_threshold
            usage = record_access(usage, touched, accessed, t + 1)
            if save:
                saved = dict(
                    state=tuple(a.write(t, s) for a, s in zip(saved["state"], state)),
                    slots=saved["slots"].write(t, slots),
                    neighbours=saved["neighbours"].write(t, new_neighbours),
                    rows=saved["rows"].write(t, rows),
                )
            state = (h, c, reads, read_weights)
            outputs = outputs.write(t, step_outputs)
            return t + 1, state, new_neighbours, memory, usage, index_state, outputs, saved

        def run(start, end, carry):
            loop = tf.while_loop(
                lambda t, *_: t < end, body, (start, *carry), maximum_iterations=end - start
            )
            return loop[1:]

        def chunk(start, state, neighbours, memory, usage, index_state, outputs, saved):
            # Sec. 3.5: the index rebuilt from the whole memory every N or so writes
            # (O(log N) per write, amortised), between runs of steps that update it.
            if self.lsh is not None:
                index_state = tf.cond(
                    start > 0, lambda: self.lsh.initial_state(memory), lambda: index_state
                )
            end = tf.minimum(start + interval, steps)
            carry = (state, neighbours, memory, usage, index_state, outputs, saved)
            return (end, *run(start, end, carry))

        interval = steps if self.lsh is None else max(1, self.memory_size // self._locations)
        carry = self._initial_state(inputs, steps) + (outputs, saved)
        loop = tf.while_loop(lambda start, *_: start < steps, chunk, (0, *carry))[1:]
        outputs = tf.transpose(loop[-2].stack(), [1, 0, 2])
        return outputs, tf.nest.map_structure(lambda array: array.stack(), loop[-1])

    # --------------------------------------------------------------- backward
    @tf.autograph.experimental.do_not_convert
    def _backward(self, inputs, saved, output_gradients, variables):
        """Sec. 3.4: the gradients of inputs and `variables`, steps in reverse.

        `memory_gradient` [B, N, W] is the gradient of the memory after step t
        with respect to the steps after t; step t adds its rows' gradients to
        it at the O(K) words it read, and zeroes it at the word it erased, whose
        earlier content no later step sees.
        """
        steps = tf.shape(saved["rows"])[0]
        time_major = tf.transpose(inputs, [1, 0, 2])
        gradients_time_major = tf.transpose(output_gradients, [1, 0, 2])
        batch = tf.shape(inputs)[0]
        memory_gradient = tf.zeros([batch, self.memory_size, self.word_size], inputs.dtype)
        state_gradient = tuple(tf.zeros_like(s[0]) for s in saved["state"])
        variable_gradients = [tf.zeros_like(v) for v in variables]
        input_gradients = tf.TensorArray(inputs.dtype, size=steps)

        def body(t, memory_gradient, state_gradient, variable_gradients, input_gradients):
            state = tuple(s[t] for s in saved["state"])
            step_inputs, rows = time_major[t], saved["rows"][t]
            slots, neighbours = saved["slots"][t], saved["neighbours"][t]
            sources = [step_inputs, *state, rows]
            with tf.GradientTape() as tape:
                tape.watch(sources)
                out, (h, c), interface, _, deltas = self._write(step_inputs, state)
                rows_read = rows + self._coupling(neighbours, slots, deltas)
                step_outputs, reads, read_weights = self._read(out, interface, rows_read)
            deltas_gradient = tf.gather(memory_gradient, slots, batch_dims=1)
            gradients = tape.gradient(
                [step_outputs, h, c, reads, read_weights, deltas],
                sources + list(variables),
                output_gradients=[gradients_time_major[t], *state_gradient, deltas_gradient],
                unconnected_gradients=tf.UnconnectedGradients.ZERO,
            )
            (input_gradient, *state_gradient), rest = gradients[:5], gradients[5:]
            rows_gradient, *step_variable_gradients = rest
            rows_gradient = after(rows_gradient, deltas_gradient)  # In place under XLA.
            add, update = tf.tensor_scatter_nd_add, tf.tensor_scatter_nd_update
            memory_gradient = scatter_per_example(add, memory_gradient, [neighbours], rows_gradient)
            erased = tf.zeros([batch, 1, self.word_size], rows_gradient.dtype)
            memory_gradient = scatter_per_example(update, memory_gradient, [slots[:, -1:]], erased)
            variable_gradients = [
                a + g for a, g in zip(variable_gradients, step_variable_gradients)
            ]
            input_gradients = input_gradients.write(t, input_gradient)
            return (
                t - 1,
                memory_gradient,
                tuple(state_gradient),
                variable_gradients,
                input_gradients,
            )

        loop = tf.while_loop(
            lambda t, *_: t >= 0,
            body,
            (steps - 1, memory_gradient, state_gradient, variable_gradients, input_gradients),
            maximum_iterations=steps,
        )
        input_gradients = tf.transpose(loop[-1].stack(), [1, 0, 2])
        return input_gradients, loop[3]

    def call(self, inputs):
        inputs = tf.convert_to_tensor(inputs)
        if not self.sparse_backprop:
            return self._forward(inputs, save=False)[0]

        @tf.custom_gradient
        def run(inputs):
            outputs, saved = self._forward(inputs, save=True)

            def gradient(output_gradients, variables=None):
                return self._backward(inputs, saved, output_gradients, variables or [])

            return outputs, gradient

        return run(inputs)

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape[:2] + [self.units + self.num_reads * self.word_size])

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            memory_size=self.memory_size,
            word_size=self.word_size,
            num_reads=self.num_reads,
            num_neighbours=self.num_neighbours,
            index=self.index,
            usage_threshold=self.usage_threshold,
            sparse_backprop=self.sparse_backprop,
            index_options=dict(self.index_options),
        )
        return config
