"""Decoupled neural interfaces with synthetic gradients (Jaderberg et al., arXiv 1608.05343).

A network split into modules `f_1 .. f_n`, `h_i = f_i(h_{i-1})`, is update
locked: module i waits for the whole forward and backward pass above it
before it learns. A decoupled neural interface at the boundary `h_i` is a
small model `M_i` that predicts the gradient, `g^_i = M_i(h_i, c) ~ dL/dh_i`
(Sec. 2), so module i updates at once with `dtheta_i = g^_i dh_i/dtheta_i`
(Eq. 1). `M_i` regresses its target by L2: the true gradient at the last
boundary, and at the others the gradient module i+1 sends back from its own
synthetic gradient (bootstrapping, Sec. 3.1). `c` is optional side
information: the labels, for conditional DNI (cDNI). The last layer of `M_i`
starts at zero, so training starts as if the modules above were absent
(Sec. 2). Synthetic inputs decouple the forward pass as well (Sec. 3.3): a
model `I_i(x)` predicts `h_{i-1}` from the network's input, so module i need
not wait for the modules below either.

- `Synthesizer`: the DNI module `M` (linear or a small ReLU MLP), also used
  for synthetic inputs.
- `DecoupledSequential`: a Keras `Model` of layers with a DNI at chosen layer
  boundaries; its `train_step` applies the decoupled updates, so `fit` trains
  it. `decoupled_mlp` builds the paper's fully connected network (Sec. 3.2).
- `AsynchronousTrainer`: the same model trained with one thread per module,
  each updating as soon as its input arrives (the paper's asynchrony).
- `SyntheticGradientTrainer`: truncated BPTT of a Keras RNN cell with a
  synthetic gradient for the future beyond each truncation (Sec. 3.1).
"""

import functools
import queue
import threading
import time

import numpy as np
import tensorflow as tf

from tfgen.algorithms.snap import TruncatedBPTTTrainer, sigmoid_cross_entropy
from tfgen.checks import check_int
from tfgen.threads import run_threads


@tf.keras.saving.register_keras_serializable(package="tfgen")
class Synthesizer(tf.keras.layers.Layer):
    """A decoupled neural interface `M(h, c)`: a synthetic gradient or input (1608.05343 Sec. 2).

    Flattens `h` (and concatenates the context `c`), applies `hidden_units`
    ReLU layers and a last linear layer that starts at zero, and reshapes to
    `target_shape`: `h`'s own shape for a synthetic gradient `dL/dh`, the
    shape of the activation it stands in for as a synthetic input.

    Args:
      hidden_units: sizes of the hidden ReLU layers; `()` is the linear DNI.
      target_shape: None for `h`'s own (non-batch) shape, else the output shape.
      context_size: size of the context `c` (0 for none; the number of labels
        for cDNI).
      zero_init: start the last layer at zero (the paper's choice for
        synthetic gradients).

    Call arguments:
      inputs: float `[batch, ...]`, the activation `h`.
      context: float `[batch, context_size]`, required when `context_size > 0`.

    Returns:
      float `[batch, *target_shape]`.

    Example:

    ```python
    synthesizer = Synthesizer(hidden_units=(64,), context_size=10)
    grad = synthesizer(h, tf.one_hot(labels, 10))  # zeros before training
    ```
    """

    def __init__(
        self, hidden_units=(), target_shape=None, context_size=0, zero_init=True, **kwargs
    ):
        super().__init__(**kwargs)
        self.hidden_units = tuple(check_int(u, "hidden_units") for u in hidden_units)
        self.target_shape = None if target_shape is None else tuple(target_shape)
        self.context_size = check_int(context_size, "context_size", 0)
        self.zero_init = bool(zero_init)
        self.hidden = [tf.keras.layers.Dense(u, activation="relu") for u in self.hidden_units]

    def build(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        self._output_shape = self.target_shape or tuple(input_shape[1:].as_list())
        width = int(np.prod(input_shape[1:])) + self.context_size
        for layer in self.hidden:
            layer.build([None, width])
            width = layer.units
        initializer = "zeros" if self.zero_init else "glorot_uniform"
        self.last = tf.keras.layers.Dense(
            int(np.prod(self._output_shape)), kernel_initializer=initializer
        )
        self.last.build([None, width])
        super().build(input_shape)

    def call(self, inputs, context=None):
        if (context is None) != (self.context_size == 0):
            raise ValueError(
                f"Synthesizer: expected a context of size {self.context_size}, got "
                f"{'none' if context is None else context.shape}."
            )
        features = tf.reshape(inputs, [tf.shape(inputs)[0], -1])
        if context is not None:
            features = tf.concat([features, tf.cast(context, features.dtype)], -1)
        for layer in self.hidden:
            features = layer(features)
        return tf.reshape(self.last(features), [-1, *self._output_shape])

    def get_config(self):
        return dict(
            super().get_config(),
            hidden_units=self.hidden_units,
            target_shape=self.target_shape,
            context_size=self.context_size,
            zero_init=self.zero_init,
        )


def _module_objective(outputs, synthetic):
    """1608.05343 Eq. 1: `<h_i, g^_i> / B` with `g^_i` held fixed; its gradient is the update."""
    batch = tf.cast(tf.shape(outputs)[0], outputs.dtype)
    return tf.reduce_sum(outputs * tf.stop_gradient(synthetic)) / batch


def _squared_error(prediction, target):
    """Mean over the batch of the summed squared error (the DNI's L2 regression loss)."""
    axes = tf.range(1, tf.rank(prediction))
    return tf.reduce_mean(tf.reduce_sum(tf.square(prediction - target), axes))


@tf.keras.saving.register_keras_serializable(package="tfgen")
class DecoupledSequential(tf.keras.Model):
    """A stack of layers trained with decoupled neural interfaces (1608.05343 Secs. 3.2, 3.3).

    The layers are cut into modules at `boundaries`; each module but the last
    is updated from the synthetic gradient `M_i(h_i)` of its output alone, the
    last from the compiled loss. In `train_step` every module sees its input
    with the gradient stopped, so no update waits for another module's
    backward pass (the asynchronous schedule of the paper run in lock step
    on one device). `M_i` regresses `dL~/dh_i`: the true loss gradient at the
    last boundary, module i+1's backpropagated synthetic gradient at the
    others. With `synthetic_inputs`, module i+1 is fed `I_i(x)`, trained to
    predict `h_i` from the network input, instead of `h_i` (forward
    decoupling); evaluation and `call` always use the real chain. One Keras
    optimizer (the compiled one) updates every module and interface; with a
    per-variable optimizer such as Adam that equals one optimizer per module.

    Gradients are per example: the module loss is the batch mean, so `M_i`
    predicts `B dL/dh_i` for a batch of `B`.

    Args:
      layers: Keras layers applied in order.
      boundaries: indices `j` (1 <= j < len(layers)) of the layers after which
        a DNI sits; None for every boundary.
      synthesizer_hidden_units: hidden sizes of each `M_i` (`()` is linear).
      conditional: condition each `M_i` on the targets (cDNI): one-hot when
        they are integer class indices (of the last layer's width), else the
        float targets flattened (as wide as the last layer's output).
      synthetic_inputs: also decouple the forward pass with `I_i(x)`.
      input_synthesizer_hidden_units: hidden sizes of each `I_i`.

    Call arguments:
      inputs: the first layer's input.
      training: passed to every layer.

    Returns:
      The last layer's output.

    Example:

    ```python
    model = decoupled_mlp(hidden_units=(256, 256), output_units=10, conditional=True)
    model.compile("adam", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(images, labels, epochs=5)
    ```
    """

    def __init__(
        self,
        layers,
        boundaries=None,
        synthesizer_hidden_units=(),
        conditional=False,
        synthetic_inputs=False,
        input_synthesizer_hidden_units=(),
        **kwargs,
    ):
        super().__init__(**kwargs)
        layers = [tf.keras.layers.deserialize(x) if isinstance(x, dict) else x for x in layers]
        if len(layers) < 2:
            raise ValueError(f"DecoupledSequential: expected at least 2 layers, got {layers!r}.")
        self.boundaries = self._check_boundaries(boundaries, len(layers))
        self.synthesizer_hidden_units = tuple(synthesizer_hidden_units)
        self.conditional, self.synthetic_inputs = bool(conditional), bool(synthetic_inputs)
        self.input_synthesizer_hidden_units = tuple(input_synthesizer_hidden_units)
        cuts = (0, *self.boundaries, len(layers))
        self.modules = [tf.keras.Sequential(layers[a:b]) for a, b in zip(cuts, cuts[1:])]
        self.gradient_synthesizers, self.input_synthesizers = [], []

    @staticmethod
    def _check_boundaries(boundaries, num_layers):
        every = tuple(range(1, num_layers))
        if boundaries is None:
            return every
        cuts = tuple(sorted(set(boundaries)))
        if not cuts or not set(cuts) <= set(every):
            raise ValueError(
                f"boundaries: expected indices in 1..{num_layers - 1}, got {boundaries!r}."
            )
        return cuts

    def build(self, input_shape):
        shape = tf.TensorShape(input_shape)
        shapes = []
        for module in self.modules:
            module.build(shape)
            shape = module.compute_output_shape(shape)
            shapes.append(shape)
        context = int(np.prod(shapes[-1][1:])) if self.conditional else 0
        self.gradient_synthesizers = [
            Synthesizer(self.synthesizer_hidden_units, context_size=context, name=f"dni_{i}")
            for i in range(len(shapes) - 1)
        ]
        for synthesizer, boundary in zip(self.gradient_synthesizers, shapes):
            synthesizer.build(boundary)
        if self.synthetic_inputs:
            self.input_synthesizers = [
                Synthesizer(
                    self.input_synthesizer_hidden_units,
                    target_shape=boundary[1:],
                    zero_init=False,
                    name=f"synthetic_input_{i}",
                )
                for i, boundary in enumerate(shapes[:-1])
            ]
            for synthesizer in self.input_synthesizers:
                synthesizer.build(input_shape)
        super().build(input_shape)

    def call(self, inputs, training=None):
        for module in self.modules:
            inputs = module(inputs, training=training)
        return inputs

    def _context(self, y):
        """cDNI's side information: one-hot class labels, or float targets as they are."""
        if not self.conditional:
            return None
        if y.dtype.is_integer:
            return tf.one_hot(tf.reshape(y, [-1]), self.gradient_synthesizers[0].context_size)
        return tf.reshape(y, [tf.shape(y)[0], -1])

    def _forward(self, x, context, tape):
        """Each module on its own (stopped) input; returns inputs, outputs, DNI predictions."""
        inputs, outputs, predictions = [x], [], []
        for i, module in enumerate(self.modules):
            tape.watch(inputs[-1])
            outputs.append(module(inputs[-1], training=True))
            if i == len(self.modules) - 1:
                break
            predictions.append(
                self.gradient_synthesizers[i](tf.stop_gradient(outputs[-1]), context)
            )
            if self.synthetic_inputs:  # 1608.05343 Sec. 3.3: h_i ~ I_i(x)
                inputs.append(self.input_synthesizers[i](x))
            else:
                inputs.append(tf.stop_gradient(outputs[-1]))
        return inputs, outputs, predictions

    def train_step(self, data):
        x, y, sample_weight = tf.keras.utils.unpack_x_y_sample_weight(data)
        if not self.built:
            self.build(x.shape)
        batch = tf.cast(tf.shape(x)[0], tf.float32)
        with tf.GradientTape(persistent=True) as tape:
            inputs, outputs, predictions = self._forward(x, self._context(y), tape)
            loss = self.compute_loss(x, y, outputs[-1], sample_weight)
            # 1608.05343 Eq. 1: module i learns from <h_i, g^_i>, g^_i held fixed.
            surrogate = loss + tf.add_n(
                [_module_objective(h, g) for h, g in zip(outputs, predictions)]
            )
        module_variables = [v for m in self.modules for v in m.trainable_variables]
        gradients = tape.gradient(surrogate, module_variables)
        # Sec. 3.1: the target of M_i is what module i+1 sends back (true at the last boundary).
        targets = [batch * d for d in tape.gradient(surrogate, inputs[1:])]
        synthesizers = self.gradient_synthesizers + self.input_synthesizers
        predicted, errors = list(predictions), [p - t for p, t in zip(predictions, targets)]
        if self.synthetic_inputs:
            predicted += inputs[1:]
            errors += [s - tf.stop_gradient(h) for s, h in zip(inputs[1:], outputs)]
        synthesizer_variables = [v for s in synthesizers for v in s.trainable_variables]
        # The L2 regressions of M_i (and I_i): d||p - t||^2 / dp = 2 (p - t), per example.
        gradients += tape.gradient(
            predicted, synthesizer_variables, output_gradients=[2.0 * e / batch for e in errors]
        )
        del tape
        self.optimizer.apply_gradients(zip(gradients, module_variables + synthesizer_variables))
        logs = self.compute_metrics(x, y, outputs[-1], sample_weight)
        logs["synthetic_gradient_loss"] = tf.add_n(
            [_squared_error(p, t) for p, t in zip(predictions, targets)]
        )
        if self.synthetic_inputs:
            logs["synthetic_input_loss"] = tf.add_n(
                [_squared_error(s, h) for s, h in zip(inputs[1:], outputs)]
            )
        return logs

    def get_config(self):
        return dict(
            super().get_config(),
            layers=[tf.keras.layers.serialize(x) for module in self.modules for x in module.layers],
            boundaries=self.boundaries,
            synthesizer_hidden_units=self.synthesizer_hidden_units,
            conditional=self.conditional,
            synthetic_inputs=self.synthetic_inputs,
            input_synthesizer_hidden_units=self.input_synthesizer_hidden_units,
        )


class _ModuleWorker:
    """Module i of a `DecoupledSequential` with its DNI and its own optimizer, for one thread."""

    def __init__(self, model, index):
        self.model, self.index = model, index
        self.module = model.modules[index]
        self.last = index == len(model.modules) - 1
        self.synthesizer = None if self.last else model.gradient_synthesizers[index]
        config = tf.keras.optimizers.serialize(model.optimizer)
        self.optimizer = tf.keras.optimizers.deserialize(config)
        own = [] if self.last else self.synthesizer.trainable_variables
        self.optimizer.build(self.module.trainable_variables + own)
        self.stored, self.losses, self.busy = {}, [], 0.0
        self.forward = tf.function(self._forward)
        self.regress = tf.function(self._regress)

    def _forward(self, inputs, y, context):
        """Forward, own update (Eq. 1, or the loss at the top), and the gradient sent down."""
        batch = tf.cast(tf.shape(inputs)[0], tf.float32)
        variables = self.module.trainable_variables
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            outputs = self.module(inputs, training=True)
            if self.last:
                objective = self.model.compute_loss(y=y, y_pred=outputs)
            else:
                synthetic = self.synthesizer(tf.stop_gradient(outputs), context)
                objective = _module_objective(outputs, synthetic)
        *grads, down = tape.gradient(objective, variables + [inputs])
        self.optimizer.apply_gradients(zip(grads, variables))
        return outputs, batch * down, objective

    def _regress(self, outputs, context, target):
        """One L2 step of this module's DNI toward the gradient module i+1 sent back."""
        variables = self.synthesizer.trainable_variables
        with tf.GradientTape() as tape:
            loss = _squared_error(self.synthesizer(outputs, context), target)
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))

    def connect(self, inbox, outbox, gradients_in, gradients_out):
        """Sets the channels of one `train` call (None where there is no neighbour)."""
        self.inbox, self.outbox = inbox, outbox
        self.gradients_in, self.gradients_out = gradients_in, gradients_out
        self.losses, self.busy = [], 0.0

    def step(self):
        """Processes the next batch; trains the DNI on any targets that have come back."""
        step, inputs, y, context = self.inbox.get()
        start = time.perf_counter()
        outputs, down, objective = self.forward(inputs, y, context)
        self.busy += time.perf_counter() - start
        if self.outbox is not None:
            self.stored[step] = (outputs, context)
            self.outbox.put((step, outputs, y, context))
        if self.gradients_out is not None:
            self.gradients_out.put((step, down))
        if self.last:
            self.losses.append(float(objective))
        self._drain(self.gradients_in, block=False)

    def finish(self):
        """Waits for the targets of every batch still unanswered and trains the DNI on them."""
        while self.stored:
            self._drain(self.gradients_in, block=True)

    def run(self, steps):
        for _ in range(steps):
            self.step()
        self.finish()

    def _drain(self, gradients_in, block):
        item = None if gradients_in is None else gradients_in.get(block)
        while item is not None:
            step, target = item
            outputs, context = self.stored.pop(step)
            start = time.perf_counter()
            self.regress(outputs, context, target)
            self.busy += time.perf_counter() - start
            item = gradients_in.get(block=False)


class _Stopped(Exception):
    """Raised in a thread waiting on a `_Channel` once another thread has failed."""


class _Channel:
    """A queue whose blocking `get` and `put` give up once `stop` is set."""

    def __init__(self, stop, maxsize=0):
        self.queue, self.stop = queue.Queue(maxsize), stop

    def put(self, item):
        while True:
            try:
                return self.queue.put(item, timeout=0.05)
            except queue.Full:
                self._check()

    def get(self, block=True):
        """The next item; None at once when empty and not `block`."""
        while True:
            try:
                return self.queue.get(timeout=0.05) if block else self.queue.get_nowait()
            except queue.Empty:
                if not block:
                    return None
                self._check()

    def _check(self):
        if self.stop.is_set():
            raise _Stopped()


class AsynchronousTrainer:
    """Trains a `DecoupledSequential` with each module in its own thread (1608.05343 Sec. 3.2).

    Module i takes batch b's input from module i-1 (or the data) through a
    queue, updates itself at once from its DNI (Eq. 1), passes its output up
    and the gradient its DNI implies at its input down, and trains its DNI
    on the gradients module i+1 sends back, whenever they arrive. So no
    module waits for a backward pass: while module 2 works on batch b,
    module 1 can be on batch b+1. Each module keeps its own copy of the
    model's optimizer (kept across `train` calls). Synthetic inputs are not
    used here (the forward pass stays a pipeline).

    Args:
      model: a built, compiled `DecoupledSequential` without `synthetic_inputs`.
      queue_size: batches a module may run ahead of the one above it.

    Example:

    ```python
    model = decoupled_mlp((256, 256), 10, conditional=True)
    model.compile("adam", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.build((None, 28, 28, 1))
    history = AsynchronousTrainer(model).train(dataset.as_numpy_iterator(), steps=1000)
    ```
    """

    def __init__(self, model, queue_size=2):
        if model.synthetic_inputs:
            raise ValueError(
                "AsynchronousTrainer: expected a model without synthetic_inputs, got one."
            )
        if not model.built:
            raise ValueError(
                "AsynchronousTrainer: expected a built model (call model.build(input_shape)), "
                "got an unbuilt one."
            )
        self.model, self.queue_size = model, check_int(queue_size, "queue_size")
        self.workers = [_ModuleWorker(model, i) for i in range(len(model.modules))]

    def train(self, batches, steps, threaded=True):
        """Trains on `steps` batches of `batches`, an iterator of `(x, y)`.

        Args:
          batches: an iterator of `(x, y)` batches.
          steps: number of batches.
          threaded: False runs the same module updates one after another in
            the calling thread (the baseline of equal work, each module's
            time then uncontended).

        Returns:
          A dict: `"loss"`, the top module's loss on each of the `steps`
          batches in order; `"busy_seconds"`, each module's time in its own
          computation during this call.
        """
        steps, workers = check_int(steps, "steps"), self.workers
        stop = threading.Event()
        inboxes = [_Channel(stop, self.queue_size if threaded else 0) for _ in workers]
        downs = [_Channel(stop) for _ in workers[1:]]
        for i, worker in enumerate(workers):
            top = i + 1 == len(workers)
            worker.connect(
                inboxes[i],
                None if top else inboxes[i + 1],
                None if top else downs[i],
                downs[i - 1] if i else None,
            )

        def feed(step):
            x, y = next(batches)
            y = tf.convert_to_tensor(y)
            inboxes[0].put((step, tf.convert_to_tensor(x), y, self.model._context(y)))

        if threaded:
            feeder = functools.partial(_each, feed, range(steps))
            runs = [functools.partial(worker.run, steps) for worker in workers]
            run_threads([feeder, *runs], on_error=stop.set, quiet=(_Stopped,))
        else:
            for step in range(steps):
                feed(step)
                for worker in workers:
                    worker.step()
            for worker in workers:
                worker.finish()
        return {"loss": workers[-1].losses, "busy_seconds": [w.busy for w in workers]}


def _each(function, values):
    for value in values:
        function(value)


def decoupled_mlp(
    hidden_units=(256, 256),
    output_units=10,
    batch_norm=True,
    synthesizer_hidden_units=(1024, 1024),
    **kwargs,
):
    """The paper's fully connected network with every layer decoupled (1608.05343 Sec. 3.2).

    Flattens the input; each hidden layer is Dense, batch normalisation and
    ReLU, one module each; the last is a linear layer of `output_units`
    logits. A DNI sits after every hidden layer.

    Args:
      hidden_units: sizes of the hidden layers (the paper: 256 each, 2 to 5 of them).
      output_units: number of logits.
      batch_norm: batch normalisation before each ReLU (as the paper).
      synthesizer_hidden_units: hidden sizes of each DNI (the paper's
        largest: two layers of 1024; `()` for linear).
      **kwargs: passed to `DecoupledSequential` (`conditional`, `synthetic_inputs`, ...).

    Returns:
      A `DecoupledSequential`, to be compiled with a loss on logits.
    """
    blocks = []
    for i, units in enumerate(hidden_units):
        layers = [tf.keras.layers.Flatten()] if i == 0 else []
        layers.append(tf.keras.layers.Dense(units, use_bias=not batch_norm))
        layers += [tf.keras.layers.BatchNormalization()] if batch_norm else []
        layers.append(tf.keras.layers.ReLU())
        blocks.append(tf.keras.Sequential(layers, name=f"hidden_{i}"))
    flatten = [] if hidden_units else [tf.keras.layers.Flatten()]
    blocks.append(
        tf.keras.Sequential([*flatten, tf.keras.layers.Dense(output_units)], name="logits")
    )
    return DecoupledSequential(blocks, synthesizer_hidden_units=synthesizer_hidden_units, **kwargs)


class SyntheticGradientTrainer(TruncatedBPTTTrainer):
    """Truncated BPTT with a synthetic gradient for the future (1608.05343 Sec. 3.1).

    A sequence is cut into windows of `truncation` steps. Each window runs the
    cell from the previous window's final state (gradients stopped there, as
    in truncated BPTT) and its update backpropagates the window's loss plus
    `<s_end, g^(s_end)>`, the synthetic gradient of all loss beyond the
    window, `g^ = M(s)` a `Synthesizer` of the flat state `s`. The same pass
    gives the target of `M` at the window's start state: the gradient there
    of the window's loss and the bootstrapped `g^(s_end)`, so `M` learns the
    gradient of the whole future. The sequence's last window has no future
    (no synthetic gradient, a target of zero at its end). With `M` at zero
    (its initial state) the update is truncated BPTT's.

    Args:
      cell: a Keras RNN cell whose first state is its output (`LSTMCell`,
        `GRUCell`, `SimpleRNNCell`, the cells of `tfgen.layers`).
      readout: a Keras layer mapping outputs to logits.
      optimizer: a Keras optimizer for the cell and readout.
      truncation: int >= 1, steps per window.
      input_dim: int, the input size.
      synthesizer: a `Synthesizer` (default: linear, zero-initialised).
      synthesizer_optimizer: its Keras optimizer; default a fresh copy of
        `optimizer`'s configuration.
      loss_fn: `loss_fn(targets, logits)` -> loss per example and step.

    Attributes:
      synthetic_gradient_error: a scalar variable, the mean over the last
        batch's windows of `M`'s squared error against its target.
    """

    def __init__(
        self,
        cell,
        readout,
        optimizer,
        truncation,
        input_dim,
        synthesizer=None,
        synthesizer_optimizer=None,
        loss_fn=sigmoid_cross_entropy,
    ):
        super().__init__(cell, readout, optimizer, truncation, input_dim, loss_fn)
        self.synthesizer = synthesizer or Synthesizer()
        self.synthesizer.build(tf.TensorShape([None, sum(self.state_sizes)]))
        self.synthesizer_optimizer = synthesizer_optimizer or optimizer.__class__.from_config(
            optimizer.get_config()
        )
        self.synthesizer_optimizer.build(self.synthesizer.trainable_variables)
        self.synthetic_gradient_error = tf.Variable(0.0, trainable=False)

    def _window(self, inputs, targets, mask, states, has_future):
        """One window: updates; returns (summed loss, final states, the DNI's squared error)."""
        batch = tf.cast(tf.shape(inputs)[0], tf.float32)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(states)
            outputs, *new_states = self.rnn(inputs, initial_state=states)
            per_step = self.loss_fn(targets, self.readout(outputs)) * mask
            end = tf.concat(new_states, -1)
            future = has_future * tf.stop_gradient(self.synthesizer(end))
            # 1608.05343 Sec. 3.1: the window's loss plus <s_end, g^(s_end)> for all later loss.
            surrogate = (tf.reduce_sum(per_step) + tf.reduce_sum(end * future)) / batch
            predicted = self.synthesizer(tf.concat(states, -1))
        grads = tape.gradient(surrogate, self.variables)
        target = batch * tf.concat(
            tape.gradient(surrogate, states, unconnected_gradients=tf.UnconnectedGradients.ZERO), -1
        )
        synthesizer_grads = tape.gradient(
            predicted,
            self.synthesizer.trainable_variables,
            output_gradients=2.0 * (predicted - target) / batch,
        )
        del tape
        self.optimizer.apply_gradients(zip(grads, self.variables))
        self.synthesizer_optimizer.apply_gradients(
            zip(synthesizer_grads, self.synthesizer.trainable_variables)
        )
        new_states = [tf.stop_gradient(s) for s in new_states]
        return tf.reduce_sum(per_step), new_states, _squared_error(predicted, target)

    def _train_on_batch(self, inputs, targets, mask):
        batch, length = tf.shape(inputs)[0], tf.shape(inputs)[1]
        states = [tf.zeros([batch, size]) for size in self.state_sizes]
        total, error, windows = tf.constant(0.0), tf.constant(0.0), tf.constant(0.0)
        for start in tf.range(0, length, self.truncation):
            window = slice(start, start + self.truncation)
            has_future = tf.cast(start + self.truncation < length, tf.float32)
            loss, states, window_error = self._window(
                inputs[:, window], targets[:, window], mask[:, window], states, has_future
            )
            total, error, windows = total + loss, error + window_error, windows + 1.0
        self.synthetic_gradient_error.assign(error / windows)
        return total, tf.reduce_sum(mask)
