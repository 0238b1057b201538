"""Grid Long Short-Term Memory (Kalchbrenner, Danihelka & Graves 2015, arXiv 1507.01526).

A Grid LSTM arranges LSTM cells in a grid of one or more dimensions, depth
included. Its unit is the N-dimensional block (Sec. 3.1): it receives one
hidden vector `h_i` and one memory vector `m_i` per dimension, concatenates
the hidden vectors into `H = [h_1; ...; h_N]`, and each dimension `i` applies
its own LSTM transform `(h'_i, m'_i) = LSTM(H, m_i, W_i)` (Sec. 2.1):

    g_u = sigmoid(W_u H + b_u)    g_f = sigmoid(W_f H + b_f)
    g_o = sigmoid(W_o H + b_o)    g_c = tanh(W_c H + b_c)
    m'  = g_f * m + g_u * g_c
    h'  = tanh(g_o * m')

The memory vectors enter only through the gates; the paper leaves the biases
`b` implicit. `h' = tanh(g_o * m')` is the paper's output (Sec. 2.1);
`output_form="standard"` gives the usual `h' = g_o * tanh(m')` instead.

This module has the block (`GridLSTMBlock`), the one-dimensional grid over
depth used for k-bit parity (`GridLSTM1D`) and the two-dimensional
depth x time grid used for character-level language modelling
(`GridLSTMCell`, a Keras RNN cell).
"""

import tensorflow as tf

from tfgen.checks import check_choice, check_int

OUTPUT_FORMS = ("paper", "standard")


def _check_dimensions(values, name, num_dimensions):
    """`values` as a tuple of distinct ints in [0, num_dimensions)."""
    if not isinstance(values, (list, tuple)):
        raise TypeError(
            f"{name}: expected a tuple of dimension indices, got {values!r} "
            f"({type(values).__name__})."
        )
    dimensions = tuple(check_int(v, name, minimum=0) for v in values)
    if any(d >= num_dimensions for d in dimensions) or len(set(dimensions)) < len(dimensions):
        raise ValueError(
            f"{name}: expected distinct indices in [0, {num_dimensions}), got {list(values)}."
        )
    return dimensions


def _fresh(initializer):
    """A new instance of `initializer` (an unseeded instance repeats its values on every call)."""
    return initializer.__class__.from_config(initializer.get_config())


def _lstm_transform(hidden, memory, kernel, bias, output_form):
    """`(h', m') = LSTM(H, m, W)`; the kernel's columns are `[g_u | g_f | g_o | g_c]`."""
    # 1507.01526 Sec. 2.1: the four gates from H alone.
    g_u, g_f, g_o, g_c = tf.split(tf.matmul(hidden, kernel) + bias, 4, axis=-1)
    # 1507.01526 Sec. 2.1: m' = g_f * m + g_u * g_c.
    memory = tf.sigmoid(g_f) * memory + tf.sigmoid(g_u) * tf.tanh(g_c)
    if output_form == "paper":
        # 1507.01526 Sec. 2.1: h' = tanh(g_o * m').
        return tf.tanh(tf.sigmoid(g_o) * memory), memory
    return tf.sigmoid(g_o) * tf.tanh(memory), memory


@tf.keras.saving.register_keras_serializable(package="tfgen")
class GridLSTMBlock(tf.keras.layers.Layer):
    """One N-dimensional Grid LSTM block: an LSTM transform along every dimension.

    With `d = units` and `N = num_dimensions`, the block maps N hidden vectors
    `h_1..h_N` and N memory vectors `m_1..m_N` (each [batch, d]) to
    `h'_1..h'_N` and `m'_1..m'_N`. Every dimension `i` reads all hidden vectors
    through `H = [h_1; ...; h_N]` (size N d) and its own memory `m_i`
    (Sec. 3.1):

        (h'_i, m'_i) = LSTM(H, m_i, W_i)

    with the LSTM transform of the module docstring (kernel `W_i` [N d, 4 d],
    columns `[g_u | g_f | g_o | g_c]`, and bias [4 d]).

    Priority dimensions (Sec. 3.2) are computed after the others and see their
    outputs: for a priority dimension `i`, `H` is replaced by the hidden vectors
    as they stand when `i` is computed, e.g. `H' = [h_1; h'_2; ...; h'_N]` for
    `priority_dimensions=(0,)`. The non-priority dimensions are computed first,
    in parallel, from `H`; then the priority dimensions one after the other in
    the order given, each seeing the outputs of every dimension computed
    before it (the paper describes one priority dimension; this cascade is our
    reading for several).

    A non-LSTM dimension (Sec. 3.3) has no cells: `h'_i = alpha(V_i H + b_i)`,
    with `V_i` [N d, d] and `alpha = non_lstm_activation`. It has no memory
    either: its entry of `memories` is passed through unchanged, so that every
    dimension keeps a (hidden, memory) pair.

    `tied=True` shares one kernel and bias among all the LSTM dimensions of the
    block (weight sharing across dimensions, Sec. 3; the non-LSTM dimensions
    keep their own `V_i`). Trainable weights: `kernel`, `bias` when tied,
    otherwise `kernel_i`, `bias_i` per LSTM dimension `i`; and
    `non_lstm_kernel_i`, `non_lstm_bias_i` per non-LSTM dimension.

    Reference:
      Kalchbrenner, Danihelka & Graves 2015, "Grid Long Short-Term Memory",
      arXiv 1507.01526, Sec. 2.1 (the LSTM transform), Sec. 3.1 (blocks),
      Sec. 3.2 (priority dimensions), Sec. 3.3 (non-LSTM dimensions).

    Args:
      units: positive int, the size `d` of every hidden and memory vector.
      num_dimensions: positive int, the number of dimensions `N`.
      tied: bool, share the LSTM weights among the block's LSTM dimensions.
      priority_dimensions: tuple of distinct dimension indices computed last,
        in this order.
      non_lstm_dimensions: tuple of distinct dimension indices whose transform
        is `alpha(V H + b)`.
      non_lstm_activation: the activation `alpha` of the non-LSTM dimensions
        (a Keras activation or its name; "linear" is the identity).
      output_form: "paper" for `h' = tanh(g_o * m')` (Sec. 2.1) or "standard"
        for `h' = g_o * tanh(m')` (Keras' `LSTMCell`).
      kernel_initializer: initializer of the kernels `W_i` and `V_i`.
      bias_initializer: initializer of the biases.
      unit_forget_bias: bool, add 1 to the forget gate's bias at
        initialisation (as Keras' `LSTMCell` does).
      **kwargs: base `tf.keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
      inputs: a pair `(hiddens, memories)`, two lists of N float tensors
        [batch, units]: `h_1..h_N` and `m_1..m_N`.

    Returns:
      A pair `(hiddens, memories)` of lists of N float tensors [batch, units]:
      `h'_1..h'_N` and `m'_1..m'_N`.

    Example:

    >>> block = GridLSTMBlock(8, num_dimensions=2, priority_dimensions=(1,))
    >>> h, m = [tf.zeros([3, 8])] * 2, [tf.zeros([3, 8])] * 2
    >>> hiddens, memories = block((h, m))
    >>> [tuple(x.shape) for x in hiddens + memories]
    [(3, 8), (3, 8), (3, 8), (3, 8)]
    >>> [w.name for w in block.trainable_weights]
    ['grid_lstm_block/kernel_0:0', 'grid_lstm_block/bias_0:0', \
'grid_lstm_block/kernel_1:0', 'grid_lstm_block/bias_1:0']
    """

    def __init__(
        self,
        units,
        num_dimensions,
        tied=False,
        priority_dimensions=(),
        non_lstm_dimensions=(),
        non_lstm_activation="tanh",
        output_form="paper",
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        unit_forget_bias=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_int(units, "units")
        self.num_dimensions = check_int(num_dimensions, "num_dimensions")
        self.tied = bool(tied)
        self.priority_dimensions = _check_dimensions(
            priority_dimensions, "priority_dimensions", self.num_dimensions
        )
        self.non_lstm_dimensions = _check_dimensions(
            non_lstm_dimensions, "non_lstm_dimensions", self.num_dimensions
        )
        self.non_lstm_activation = tf.keras.activations.get(non_lstm_activation)
        self.output_form = check_choice(output_form, "output_form", OUTPUT_FORMS)
        self.kernel_initializer = tf.keras.initializers.get(kernel_initializer)
        self.bias_initializer = tf.keras.initializers.get(bias_initializer)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _lstm_bias_initializer(self, shape, dtype=None, **kwargs):
        bias = _fresh(self.bias_initializer)(shape, dtype=dtype, **kwargs)
        if not self.unit_forget_bias:
            return bias
        d = self.units  # g_f is the second of the four gates.
        ones = tf.concat([tf.zeros([d]), tf.ones([d]), tf.zeros([2 * d])], 0)
        return bias + tf.cast(ones, bias.dtype)

    def _add_transform_weights(self, prefix, suffix, outputs, bias_initializer):
        """A kernel [N d, outputs] and a bias [outputs], named `{prefix}kernel{suffix}` etc."""
        size = self.num_dimensions * self.units
        kernel = self.add_weight(
            f"{prefix}kernel{suffix}", [size, outputs], initializer=_fresh(self.kernel_initializer)
        )
        bias = self.add_weight(f"{prefix}bias{suffix}", [outputs], initializer=bias_initializer)
        return kernel, bias

    def _check_input_shape(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2:
            raise ValueError(
                f"GridLSTMBlock: expected inputs (hiddens, memories), got shapes {input_shape}."
            )
        wanted = [None, self.units]
        for name, shapes in zip(("hiddens", "memories"), input_shape):
            shapes = [tf.TensorShape(s) for s in shapes]
            if len(shapes) != self.num_dimensions or any(
                not s.is_compatible_with(wanted) for s in shapes
            ):
                raise ValueError(
                    f"GridLSTMBlock: expected {name} to be {self.num_dimensions} tensors "
                    f"[batch, {self.units}], got shapes {[s.as_list() for s in shapes]}."
                )

    def build(self, input_shape):
        self._check_input_shape(input_shape)
        lstm_outputs = 4 * self.units
        if self.tied and len(self.non_lstm_dimensions) < self.num_dimensions:
            # 1507.01526 Sec. 3: one W shared by the tied dimensions.
            shared = self._add_transform_weights("", "", lstm_outputs, self._lstm_bias_initializer)
        weights = []  # (kernel, bias) of every dimension
        for i in range(self.num_dimensions):
            if i in self.non_lstm_dimensions:
                weights.append(
                    self._add_transform_weights(
                        "non_lstm_", f"_{i}", self.units, _fresh(self.bias_initializer)
                    )
                )
            elif self.tied:
                weights.append(shared)
            else:
                weights.append(
                    self._add_transform_weights(
                        "", f"_{i}", lstm_outputs, self._lstm_bias_initializer
                    )
                )
        self._transform_weights = weights
        super().build(input_shape)

    def _transform(self, i, hidden, memory):
        kernel, bias = self._transform_weights[i]
        if i in self.non_lstm_dimensions:
            # 1507.01526 Sec. 3.3: h'_i = alpha(V H); no memory along dimension i.
            return self.non_lstm_activation(tf.matmul(hidden, kernel) + bias), memory
        # 1507.01526 Sec. 3.1: (h'_i, m'_i) = LSTM(H, m_i, W_i).
        return _lstm_transform(hidden, memory, kernel, bias, self.output_form)

    def call(self, inputs):
        hiddens, memories = (list(x) for x in inputs)
        new_hiddens, new_memories = list(hiddens), list(memories)
        # 1507.01526 Sec. 3.1: H = [h_1; ...; h_N], shared by the transforms.
        hidden = tf.concat(hiddens, axis=-1)
        for i in range(self.num_dimensions):
            if i not in self.priority_dimensions:
                new_hiddens[i], new_memories[i] = self._transform(i, hidden, memories[i])
        for i in self.priority_dimensions:
            # 1507.01526 Sec. 3.2: H' holds the outputs computed so far.
            updated = tf.concat(new_hiddens, axis=-1)
            new_hiddens[i], new_memories[i] = self._transform(i, updated, memories[i])
        return new_hiddens, new_memories

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            num_dimensions=self.num_dimensions,
            tied=self.tied,
            priority_dimensions=list(self.priority_dimensions),
            non_lstm_dimensions=list(self.non_lstm_dimensions),
            non_lstm_activation=tf.keras.activations.serialize(self.non_lstm_activation),
            output_form=self.output_form,
            kernel_initializer=tf.keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=tf.keras.initializers.serialize(self.bias_initializer),
            unit_forget_bias=self.unit_forget_bias,
        )
        return config


def _block_input_shape(units, num_dimensions):
    """The `(hiddens, memories)` input shape of a block."""
    shapes = [tf.TensorShape([None, units])] * num_dimensions
    return (shapes, list(shapes))


class _GridLayers(tf.keras.layers.Layer):
    """The input projection and the blocks along depth shared by the 1-D and 2-D grids."""

    num_dimensions = None  # set by the subclass

    def __init__(
        self,
        units,
        num_layers,
        tied,
        output_form,
        kernel_initializer,
        bias_initializer,
        unit_forget_bias,
        block_kwargs=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_int(units, "units")
        self.num_layers = check_int(num_layers, "num_layers")
        self.tied = bool(tied)
        self.output_form = check_choice(output_form, "output_form", OUTPUT_FORMS)
        self.kernel_initializer = tf.keras.initializers.get(kernel_initializer)
        self.bias_initializer = tf.keras.initializers.get(bias_initializer)
        self.unit_forget_bias = bool(unit_forget_bias)
        kernel_config = tf.keras.initializers.serialize(self.kernel_initializer)
        # 1507.01526 Sec. 2.1: the input matrix I (no bias).
        self.input_projection = tf.keras.layers.Dense(
            self.units, use_bias=False, kernel_initializer=kernel_config, name="input_projection"
        )
        self.blocks = [
            GridLSTMBlock(
                self.units,
                self.num_dimensions,
                output_form=self.output_form,
                kernel_initializer=kernel_config,
                bias_initializer=tf.keras.initializers.serialize(self.bias_initializer),
                unit_forget_bias=self.unit_forget_bias,
                name=f"block_{layer}",
                **(block_kwargs or {}),
            )
            for layer in range(1 if self.tied else self.num_layers)
        ]

    def build(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        if input_shape.rank is None or input_shape[-1] is None:
            raise ValueError(
                f"{type(self).__name__}: expected inputs with a known last dimension, got "
                f"shape {input_shape}."
            )
        self.input_projection.build(input_shape)
        for block in self.blocks:
            block.build(_block_input_shape(self.units, self.num_dimensions))
        super().build(input_shape)

    def block(self, layer):
        """The block of depth `layer` (one block for all layers when tied)."""
        return self.blocks[0 if self.tied else layer]

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            num_layers=self.num_layers,
            tied=self.tied,
            output_form=self.output_form,
            kernel_initializer=tf.keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=tf.keras.initializers.serialize(self.bias_initializer),
            unit_forget_bias=self.unit_forget_bias,
        )
        return config


@tf.keras.saving.register_keras_serializable(package="tfgen")
class GridLSTM1D(_GridLayers):
    """The one-dimensional Grid LSTM (the paper's 1-LSTM): LSTM cells along depth only.

    The input vector `x` [batch, input_dim] is projected into the first hidden
    vector, `h_0 = I x`, the first memory vector is `m_0 = 0`, and `num_layers`
    one-dimensional blocks follow (Sec. 3.1 with N = 1, as for k-bit parity in
    Sec. 4.1):

        (h_l, m_l) = LSTM(h_{l-1}, m_{l-1}, W_l)        l = 1..num_layers

    The output is the top hidden vector `h_L`. With `tied=True` (the paper's
    tied 1-LSTM) every layer uses the same `W`.

    Against a standard stacked LSTM applied to one vector (each layer an LSTM
    with input `h_{l-1}` and its own memory starting from zero), the 1-D Grid
    LSTM adds the memory connection along depth: layer `l`'s memory `m_{l-1}`
    comes from layer `l - 1`, so the cells carry information, gated and
    additively, from layer to layer (as highway networks do). Layer `l` is
    then a Keras LSTM step with input `h_{l-1}`, previous hidden state 0 and
    previous cell state `m_{l-1}` (with `output_form="standard"`).

    Trainable weights: `input_projection/kernel` [input_dim, units] (`I`) and,
    per block (one when tied, else `num_layers`), `kernel_0` [units, 4 units]
    and `bias_0` [4 units].

    Reference:
      Kalchbrenner, Danihelka & Graves 2015, "Grid Long Short-Term Memory",
      arXiv 1507.01526, Sec. 3.1 (blocks), Sec. 4.1 (k-bit parity with a
      1-LSTM).

    Args:
      units: positive int, the size of the hidden and memory vectors.
      num_layers: positive int, the number of blocks along depth.
      tied: bool, one set of block weights for all layers.
      output_form: "paper" for `h = tanh(g_o * m)` (Sec. 2.1) or "standard"
        for `h = g_o * tanh(m)` (Keras' `LSTMCell`).
      kernel_initializer: initializer of `I` and the block kernels.
      bias_initializer: initializer of the block biases.
      unit_forget_bias: bool, add 1 to the forget gate's bias at
        initialisation.
      **kwargs: base `tf.keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
      inputs: float tensor [batch, input_dim].

    Returns:
      Float tensor [batch, units], the top hidden vector `h_L`.

    Example:

    >>> grid = GridLSTM1D(16, num_layers=4)
    >>> grid(tf.zeros([2, 10])).shape
    TensorShape([2, 16])
    >>> len(grid.trainable_weights)  # I, and one tied block's kernel and bias
    3
    """

    num_dimensions = 1

    def __init__(
        self,
        units,
        num_layers,
        tied=True,
        output_form="paper",
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        unit_forget_bias=True,
        **kwargs,
    ):
        super().__init__(
            units,
            num_layers,
            tied,
            output_form,
            kernel_initializer,
            bias_initializer,
            unit_forget_bias,
            **kwargs,
        )

    def call(self, inputs):
        # 1507.01526 Sec. 4.1: x projected into the first hidden vector; m_0 = 0.
        hidden = self.input_projection(inputs)
        memory = tf.zeros_like(hidden)
        for layer in range(self.num_layers):
            # 1507.01526 Sec. 3.1, N = 1: (h_l, m_l) = LSTM(h_{l-1}, m_{l-1}, W_l).
            (hidden,), (memory,) = self.block(layer)(([hidden], [memory]))
        return hidden


@tf.keras.saving.register_keras_serializable(package="tfgen")
class GridLSTMCell(_GridLayers):
    """A two-dimensional (time x depth) Grid LSTM step, as a Keras RNN cell.

    The paper's 2-LSTM for sequences (Sec. 3, Sec. 4.3): a grid with one
    dimension along time and one along depth, each with LSTM cells. At time
    `t` the input is projected into the bottom of the depth dimension,
    `h^d_0 = I x_t`, `m^d_0 = 0`, and `num_layers` two-dimensional blocks
    follow up the depth; block `l` takes the time pair of its own layer from
    step `t - 1` and the depth pair from the block below:

        H = [h^t_l(t-1); h^d_{l-1}(t)]
        (h^t_l(t), m^t_l(t)) = LSTM(H, m^t_l(t-1), W^t_l)    time transform
        (h^d_l(t), m^d_l(t)) = LSTM(H', m^d_{l-1}(t), W^d_l)  depth transform

    With `prioritize_depth=True` (Sec. 3.2: the depth dimension's outputs
    predict the target) the depth transform comes second and reads
    `H' = [h^t_l(t); h^d_{l-1}(t)]`; otherwise `H' = H`. The output is the
    top depth hidden vector `h^d_L(t)`; the recurrent state is the time pair
    `(h^t_l, m^t_l)` of every layer.

    Against a standard stacked LSTM, whose layer `l` is exactly the time
    transform above (input `h_{l-1}(t)`, recurrent state `(h_l(t-1),
    m_l(t-1))`), the 2-D Grid LSTM adds the depth transform: memory cells
    along depth (`m^d` flows from each layer to the next within a time step)
    and a gated depth output `h^d_l`, which feeds the next layer instead of the
    time hidden vector.

    `tied=True` shares one block (both transforms) among all layers: the
    paper's tied 2-LSTM, its best character-level Wikipedia model. The memory
    of the projected input, `m^d_0`, is zero: the paper does not state it.

    Trainable weights: `input_projection/kernel` [input_dim, units] and, per
    block (one when tied, else `num_layers`), `kernel_0`, `bias_0` (time) and
    `kernel_1`, `bias_1` (depth), kernels [2 units, 4 units].

    Reference:
      Kalchbrenner, Danihelka & Graves 2015, "Grid Long Short-Term Memory",
      arXiv 1507.01526, Sec. 3.1 (blocks), Sec. 3.2 (priority dimensions),
      Sec. 4.3 (the 2-LSTM for character-level language modelling).

    Args:
      units: positive int, the size of every hidden and memory vector.
      num_layers: positive int, the number of blocks along depth.
      tied: bool, one block's weights for all layers.
      prioritize_depth: bool, compute the depth transform after the time
        transform, from its output.
      output_form: "paper" for `h = tanh(g_o * m)` (Sec. 2.1) or "standard"
        for `h = g_o * tanh(m)`.
      kernel_initializer: initializer of `I` and the block kernels.
      bias_initializer: initializer of the block biases.
      unit_forget_bias: bool, add 1 to the forget gate's bias at
        initialisation.
      **kwargs: base `tf.keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
      inputs: float tensor [batch, input_dim], the input `x_t`.
      states: list of `2 * num_layers` float tensors [batch, units]:
        `[h^t_1, m^t_1, ..., h^t_L, m^t_L]` at step `t - 1`.
      training: ignored.

    Returns:
      `(h^d_L(t), new_states)`: the output [batch, units] and the states at
      step `t`, laid out as `states`.

    Example:

    >>> rnn = tf.keras.layers.RNN(GridLSTMCell(16, num_layers=2))
    >>> rnn(tf.zeros([2, 5, 3])).shape
    TensorShape([2, 16])
    >>> rnn.cell.state_size
    [16, 16, 16, 16]
    """

    num_dimensions = 2
    TIME, DEPTH = 0, 1  # the block's dimensions

    def __init__(
        self,
        units,
        num_layers=1,
        tied=True,
        prioritize_depth=True,
        output_form="paper",
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        unit_forget_bias=True,
        **kwargs,
    ):
        self.prioritize_depth = bool(prioritize_depth)
        super().__init__(
            units,
            num_layers,
            tied,
            output_form,
            kernel_initializer,
            bias_initializer,
            unit_forget_bias,
            block_kwargs={"priority_dimensions": (self.DEPTH,) if self.prioritize_depth else ()},
            **kwargs,
        )

    @property
    def state_size(self):
        return [self.units] * (2 * self.num_layers)

    @property
    def output_size(self):
        return self.units

    def call(self, inputs, states, training=None):
        del training
        # 1507.01526 Sec. 4.3: x_t projected into the bottom of the depth dimension.
        hidden = self.input_projection(inputs)
        memory = tf.zeros_like(hidden)
        new_states = []
        for layer in range(self.num_layers):
            h_time, m_time = states[2 * layer], states[2 * layer + 1]
            # 1507.01526 Sec. 3.1-3.2: one 2-D block, depth prioritized.
            (h_time, hidden), (m_time, memory) = self.block(layer)(
                ([h_time, hidden], [m_time, memory])
            )
            new_states += [h_time, m_time]
        return hidden, new_states

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        """Zero states: `2 * num_layers` tensors [batch, units]."""
        if inputs is not None:
            batch_size = tf.shape(inputs)[0]
            dtype = inputs.dtype
        dtype = dtype or self.compute_dtype
        return [tf.zeros([batch_size, self.units], dtype) for _ in self.state_size]

    def get_config(self):
        config = super().get_config()
        config.update(prioritize_depth=self.prioritize_depth)
        return config
