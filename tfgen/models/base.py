"""The model contract shared by every tfgen model (DESIGN 4).

A model computes its training loss and its metrics (in the paper's units) in
`compute_losses`; this base class turns that into Keras `train_step` /
`test_step`, so `model.compile(optimizer)` + `model.fit(dataset)` train it under
any `tf.distribute` strategy. Export signatures come from `signatures`.
"""

import inspect

import tensorflow as tf


def signature_function(fn, specs):
    """`tf.function(fn)` with `input_signature=specs`, taking arguments named after the specs.

    SavedModel signatures are called with keyword arguments named after their
    TensorSpecs; this gives `fn(**named_inputs)` exactly that calling convention.
    """
    signature = inspect.Signature([
        inspect.Parameter(spec.name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for spec in specs])

    def wrapper(*args, **kwargs):
        return fn(**signature.bind(*args, **kwargs).arguments)

    wrapper.__signature__ = signature
    wrapper.__name__ = fn.__name__
    return tf.function(wrapper, input_signature=specs)


class GenerativeModel(tf.keras.Model):
    """Base class of tfgen models.

    Subclasses implement:
      * `compute_losses(features, training)` returning `(loss, metrics)`: the
        scalar loss to minimise (mean over the batch) and a dict of per-example
        metric values in the paper's units (e.g. `bits_per_dim`).
      * `signatures(jit_compile=False)`: a dict of signature name ->
        `tf.function` with a full `input_signature`, for SavedModel export.
      * `get_config()` returning the constructor's keyword arguments.
      * `example_features(batch_size, seed)`: a batch shaped like the model's
        dataset, for tests and for building variables.

    `metric_names` lists the keys of the metrics dict; each is tracked as a
    Keras `Mean` and shown in the `fit` progress bar.
    """

    metric_names = ()

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._loss_tracker = tf.keras.metrics.Mean(name="loss")
        self._metric_trackers = {
            name: tf.keras.metrics.Mean(name=name) for name in self.metric_names
        }

    def compute_losses(self, features, training=False):
        raise NotImplementedError

    def signatures(self, jit_compile=False):
        raise NotImplementedError

    def example_features(self, batch_size=2, seed=0):
        raise NotImplementedError

    def signature_inputs(self, signature, batch_size=2, seed=0):
        """Example inputs for `signature`, one of the `tf.function`s of `signatures`.

        Keys that name features come from `example_features`; the sampling
        controls get fixed values (`seed`, `temperature`, `num_samples`).
        """
        features = self.example_features(batch_size, seed)
        controls = {"seed": seed + 7, "temperature": 1.0, "num_samples": batch_size}
        inputs = {}
        for spec in tf.nest.flatten(signature.input_signature):
            value = features[spec.name] if spec.name in features else controls[spec.name]
            inputs[spec.name] = tf.cast(value, spec.dtype)
        return inputs

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @property
    def metrics(self):
        return [self._loss_tracker, *self._metric_trackers.values()]

    def _update_metrics(self, loss, values):
        self._loss_tracker.update_state(loss)
        for name, value in values.items():
            self._metric_trackers[name].update_state(value)
        return {metric.name: metric.result() for metric in self.metrics}

    def train_step(self, data):
        with tf.GradientTape() as tape:
            loss, values = self.compute_losses(data, training=True)
            total = loss + tf.add_n(self.losses) if self.losses else loss
        gradients = tape.gradient(total, self.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        return self._update_metrics(loss, values)

    def test_step(self, data):
        loss, values = self.compute_losses(data, training=False)
        return self._update_metrics(loss, values)
