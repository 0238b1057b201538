"""Fast WaveNet generation: one step of every layer per sample (arXiv 1611.09482).

Paine et al. 2016, "Fast Wavenet Generation Algorithm", Sec. 2: at generation
time a causal dilated convolution needs, besides the new input, only its inputs
from `d`, `2d`, ... steps ago; kept in a queue, they make one new sample cost
one matrix product per layer instead of a convolution over the whole past.
`WaveNetGenerator` runs a whole `WaveNetStack` that way, arranged for speed on
a CPU, with the same outputs as the stack's `call` up to float rounding:

* one queue per dilation, shared by the layers of every repetition of the
  dilation pattern: a tensor list (as inside a `tf.TensorArray`) whose slot
  `t mod ((k - 1) d)` holds those layers' inputs of time t. XLA keeps it in
  one buffer updated in place (a dynamic-update-slice per step) and so does
  the plain TensorFlow runtime (a list of tensors), where a tensor scatter
  would copy the whole queue every step;
* the products of the past taps with their kernels do not depend on the new
  sample: one batched matrix product per step computes them for all layers,
  and the biases and global conditioning `V^T h` join them as terms computed
  once per call;
* per layer, one product for the current tap and one for the residual and
  skip 1x1s together (their kernels side by side);
* int codes standing for one-hot inputs gather kernel rows instead of
  multiplying by the one-hot vector.
"""

import tensorflow as tf

from tfgen.checks import check_choice
from tfgen.layers.wavenet_block import _check_condition

COMPUTE_DTYPES = ("float32", "bfloat16")


class WaveNetGenerator:
    """Runs a built `WaveNetStack` one time step at a time, for autoregressive generation.

    Create it inside the function that runs the generation loop (it reads the
    stack's weights once, as loop-invariant tensors), then thread `state`
    through `step`:

        generator = WaveNetGenerator(stack, global_condition=h)
        state = generator.initial_state(batch_size)
        outputs, state = generator.step(previous_input, state, t)  # t = 0, 1, ...

    The output at time t depends on the inputs at times < t only: `step` at
    time t takes the input of time t - 1 (a zero input at time 0, as the
    stack's shifted input convolution sees).

    Reference:
      Paine et al. 2016, "Fast Wavenet Generation Algorithm", arXiv
      1611.09482, Sec. 2 (the queues); van den Oord et al. 2016, "WaveNet: A
      Generative Model for Raw Audio", arXiv 1609.03499, Sec. 2.3-2.5 (the
      layers it steps).

    Args:
      stack: a built `tfgen.layers.wavenet_block.WaveNetStack`.
      global_condition: float [batch, G] h, or None (as the stack's `call`).
      compute_dtype: "float32" or "bfloat16": the dtype of the queues, the
        weights and the matrix products (outputs are float32 either way).

    Example:

    >>> from tfgen.layers.wavenet_block import WaveNetStack
    >>> stack = WaveNetStack(output_channels=3, num_stacks=1, layers_per_stack=2,
    ...                      residual_channels=4, skip_channels=5)
    >>> x = tf.random.stateless_normal([2, 6, 1], seed=[0, 1])
    >>> expected = stack(x)
    >>> generator = WaveNetGenerator(stack)
    >>> state, previous, outputs = generator.initial_state(2), tf.zeros([2, 1]), []
    >>> for t in range(6):
    ...     output, state = generator.step(previous, state, t)
    ...     outputs.append(output)
    ...     previous = x[:, t]
    >>> bool(tf.reduce_all(tf.abs(tf.stack(outputs, axis=1) - expected) < 1e-5))
    True
    """

    # Fast Wavenet (1611.09482) Sec. 2: per-dilation queues, one step per layer per sample.
    def __init__(self, stack, global_condition=None, compute_dtype="float32"):
        if not stack.built:
            raise ValueError(f"{stack.name}: expected a built WaveNetStack, got an unbuilt one.")
        _check_condition(
            stack.name, "global_condition", stack.global_conditioning, global_condition
        )
        self.stack = stack
        self.compute_dtype = tf.as_dtype(
            check_choice(compute_dtype, "compute_dtype", COMPUTE_DTYPES)
        )
        self.global_condition = global_condition
        self.queue_dilations = sorted(set(stack.dilations))
        # The layers of each queue; the past terms of all layers are computed in that order.
        self.queue_layers = [
            [index for index, d in enumerate(stack.dilations) if d == dilation]
            for dilation in self.queue_dilations
        ]
        queue_order = [index for layers in self.queue_layers for index in layers]
        self._row = {index: row for row, index in enumerate(queue_order)}
        self._read_weights(queue_order)

    def queue_length(self, dilation):
        """Slots of the queue of `dilation`: `(filter_width - 1) * dilation`."""
        return (self.stack.filter_width - 1) * dilation

    # ----------------------------------------------------------- weights
    def _cast(self, tensor):
        return tf.cast(tensor, self.compute_dtype)

    def _read_weights(self, queue_order):
        """The loop-invariant weights, cast once, in the layout `step` reads them."""
        stack, k, r = self.stack, self.stack.filter_width, self.stack.residual_channels
        blocks = [stack.blocks[index] for index in queue_order]
        # 1611.09482 Sec. 2: the past taps' kernels, [L, (k - 1) R, 2R] in queue order.
        self._past_kernels = self._cast(
            tf.stack(
                [
                    tf.reshape(block.dilated_conv.kernel[: k - 1], [(k - 1) * r, 2 * r])
                    for block in blocks
                ]
            )
        )
        # 1609.03499 Sec. 2.5: the biases plus V^T h, [L, batch or 1, 2R] in queue order.
        self._past_biases = self._cast(tf.stack([self._conditioned_bias(b) for b in blocks]))
        self._local_kernel = (
            self._cast(tf.concat([block.local_projection.kernel for block in blocks], axis=1))
            if stack.local_conditioning
            else None
        )
        # In layer order: the current tap's kernel, the residual and skip 1x1s side by side.
        self._current_kernels = [self._cast(b.dilated_conv.kernel[k - 1]) for b in stack.blocks]
        outputs = [b.output_weights() for b in stack.blocks]
        self._output_kernels = [self._cast(kernel) for kernel, _ in outputs]
        self._output_biases = [self._cast(bias) for _, bias in outputs]
        conv = stack.input_conv
        # Rows for int codes, with a zero row at index C: code -1 (mod C + 1) is a zero input.
        self._input_rows = self._cast(tf.pad(conv.kernel, [[0, 0], [0, 1], [0, 0]]))
        self._input_kernel = self._cast(
            tf.reshape(tf.transpose(conv.kernel, [1, 0, 2]), [conv.kernel.shape[1], -1])
        )
        self._input_bias = self._cast(conv.bias)
        self._head_weights = [
            (self._cast(layer.kernel), self._cast(layer.bias))
            for layer in (stack.output_hidden, stack.output_projection)
        ]

    def _conditioned_bias(self, block):
        bias = block.dilated_conv.bias[None]
        if self.global_condition is None:
            return bias
        return bias + block.global_projection(self.global_condition)

    # ------------------------------------------------------------- state
    def initial_state(self, batch_size):
        """The state before time 0: zero partial sums of the input convolution, zero queues.

        Args:
          batch_size: int or int32 scalar tensor.

        Returns:
          `(partial_sums [k - 1, batch, R], queues)`: `queues` holds one
          tensor list (a `tf.variant` scalar, as inside a `tf.TensorArray`)
          per dilation d, of `queue_length(d)` elements `[layers of dilation
          d, batch, R]`.
        """
        k, r = self.stack.filter_width, self.stack.residual_channels
        partial = tf.zeros(tf.stack([k - 1, batch_size, r]), self.compute_dtype)
        if k == 1:  # No past taps, no queues.
            return partial, ()
        queues = tuple(
            tf.raw_ops.TensorListFromTensor(
                tensor=tf.zeros(
                    tf.stack([self.queue_length(dilation), len(layers), batch_size, r]),
                    self.compute_dtype,
                ),
                element_shape=tf.stack([len(layers), batch_size, r]),
            )
            for dilation, layers in zip(self.queue_dilations, self.queue_layers)
        )
        return partial, queues

    # -------------------------------------------------------------- step
    def step(self, previous_input, state, time, local_condition=None):
        """The stack's outputs at `time` from the input at `time - 1`.

        Args:
          previous_input: the input at `time - 1`: float [batch, C], or int
            codes [batch] standing for their one-hot vectors of C channels,
            -1 for a zero input (the input at time -1 is zero, as the stack's
            shift makes it).
          state: from `initial_state` or the previous `step`.
          time: int32 scalar, the current time 0, 1, 2, ...
          local_condition: float [batch, L] y at `time`, or None.

        Returns:
          `(outputs float32 [batch, output_channels], new_state)`.
        """
        _check_condition(
            self.stack.name, "local_condition", self.stack.local_conditioning, local_condition
        )
        partial, queues = state
        x, partial = self._input_conv(tf.convert_to_tensor(previous_input), partial)
        past = self._past_terms(self._taps(queues, time), local_condition)
        inputs, skip = self._layers(x, past)
        state = (partial, self._push(queues, inputs, time))
        return tf.cast(self._head(skip), tf.float32), state

    # 1609.03499 Sec. 2.1: the causal input convolution of the shifted input, as partial sums.
    def _input_conv(self, previous_input, partial):
        """(input conv output at t, new partial sums) from s_t, the input at t - 1.

        `partial[m]` holds the taps already applied to the output at `t + m`;
        the new input's tap j (of k) adds to the output at `t + k - 1 - j`.
        """
        k, r = self.stack.filter_width, self.stack.residual_channels
        if previous_input.dtype.is_integer:
            rows = tf.math.floormod(previous_input, self._input_rows.shape[1])
            taps = tf.gather(self._input_rows, rows, axis=1)  # [k, batch, R]
        else:
            products = tf.matmul(self._cast(previous_input), self._input_kernel)
            taps = tf.transpose(tf.reshape(products, [-1, k, r]), [1, 0, 2])
        if k == 1:
            return taps[0] + self._input_bias, partial
        outputs = partial[0] + taps[k - 1] + self._input_bias
        later = tf.concat([partial[1:], tf.zeros_like(partial[:1])], axis=0)
        return outputs, later + tf.reverse(taps[: k - 1], axis=[0])

    # 1611.09482 Sec. 2: pop the inputs of d, 2d, ... steps ago.
    def _taps(self, queues, time):
        """Every layer's past inputs, [L, batch, (k - 1) R] in queue order (None if k = 1)."""
        k = self.stack.filter_width
        if k == 1:
            return None
        # The slot of time t - (k - 1 - j) d, for every queue and tap j, in one op.
        offsets = [(k - 1 - j) * d for d in self.queue_dilations for j in range(k - 1)]
        lengths = [self.queue_length(d) for d in self.queue_dilations for _ in range(k - 1)]
        slots = iter(tf.unstack(tf.math.floormod(time - tf.constant(offsets), lengths)))
        taps = [
            tf.concat([self._read(queue, next(slots)) for _ in range(k - 1)], axis=-1)
            for queue in queues
        ]
        return tf.concat(taps, axis=0)

    def _read(self, queue, slot):
        return tf.raw_ops.TensorListGetItem(
            input_handle=queue,
            index=slot,
            element_shape=tf.constant(-1),
            element_dtype=self.compute_dtype,
        )

    # 1609.03499 Sec. 2.3 Eq. 2, Sec. 2.5: W * x over the past taps, + V^T h + V * y.
    def _past_terms(self, taps, local_condition):
        """Every layer's pre-activation terms that do not depend on the new sample, [L, B, 2R]."""
        terms = self._past_biases
        if taps is not None:
            terms = terms + tf.matmul(taps, self._past_kernels)
        if self._local_kernel is None:
            return terms
        local = tf.matmul(self._cast(local_condition), self._local_kernel)
        shape = tf.stack([-1, len(self.stack.blocks), 2 * self.stack.residual_channels])
        return terms + tf.transpose(tf.reshape(local, shape), [1, 0, 2])

    # 1609.03499 Sec. 2.3 Eq. 2, Sec. 2.4 Fig. 4: gated units, residual and skip 1x1s.
    def _layers(self, x, past):
        """(every layer's input [B, R], the summed skips [B, S]) from the input conv's x."""
        past, r = tf.unstack(past), self.stack.residual_channels
        inputs, skip = [], None
        for index, block in enumerate(self.stack.blocks):
            inputs.append(x)
            pre = past[self._row[index]] + tf.matmul(x, self._current_kernels[index])
            filters, gates = tf.split(pre, 2, axis=-1)
            z = tf.tanh(filters) * tf.sigmoid(gates)
            outputs = tf.nn.bias_add(
                tf.matmul(z, self._output_kernels[index]), self._output_biases[index]
            )
            if block.residual_output:
                residual, outputs = tf.split(outputs, [r, -1], axis=-1)
                x += residual
            skip = outputs if skip is None else skip + outputs
        return inputs, skip

    def _push(self, queues, inputs, time):
        """Writes every layer's input of `time` into the slot `time mod length` of its queue."""
        lengths = [self.queue_length(d) for d in self.queue_dilations]
        slots = tf.unstack(tf.math.floormod(time, lengths)) if queues else []
        return tuple(
            tf.raw_ops.TensorListSetItem(
                input_handle=queue,
                index=slot,
                item=tf.stack([inputs[index] for index in layers]),
            )
            for queue, slot, layers in zip(queues, slots, self.queue_layers)
        )

    # 1609.03499 Sec. 2.4, Fig. 4: ReLU -> 1x1 -> ReLU -> 1x1 on the summed skips.
    def _head(self, skip):
        (hidden_kernel, hidden_bias), (kernel, bias) = self._head_weights
        hidden = tf.nn.bias_add(tf.matmul(tf.nn.relu(skip), hidden_kernel), hidden_bias)
        return tf.nn.bias_add(tf.matmul(tf.nn.relu(hidden), kernel), bias)
