"""The model contract shared by every tfgen model.

A model computes its training loss and its metrics (in the paper's units) in
`compute_losses`; this base class turns that into Keras `train_step` /
`test_step`, so `model.compile(optimizer)` + `model.fit(dataset)` train it under
any `tf.distribute` strategy. Export signatures come from `signatures`.

Hyper-parameters are the constructor's keyword arguments, with their defaults
written once in its signature: `get_config` returns the values a model was
built with (`tfgen.hparams`), and every subclass is a registered Keras
serializable, so Keras-native saving works without `custom_objects`:

    model = tfgen.registry.build("pixelcnn")    # built: model.summary() works
    model.save("pixelcnn.keras")
    restored = tf.keras.models.load_model("pixelcnn.keras")
"""

import tensorflow as tf

from tfgen import hparams


class GenerativeModel(tf.keras.Model):
    """Base class of tfgen models.

    Subclasses implement:
      * `__init__` with a default for every hyper-parameter (the one place they
        are written); `get_config` / `from_config` derive from it.
      * `compute_losses(features, training)` returning `(loss, metrics)`: the
        scalar loss to minimise (mean over the batch) and a dict of per-example
        metric values in the paper's units (e.g. `bits_per_dim`).
      * `signatures(jit_compile=False)`: a dict of signature name ->
        `tf.function` with a full `input_signature`, for SavedModel export.
      * `example_features(batch_size, seed)`: a batch shaped like the model's
        dataset, for tests and for building variables.

    `metric_names` lists the keys of the metrics dict; each is tracked as a
    Keras `Mean` and shown in the `fit` progress bar.
    """

    metric_names = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        tf.keras.saving.register_keras_serializable(package="tfgen")(cls)

    def __new__(cls, *args, **kwargs):
        instance = super().__new__(cls, *args, **kwargs)
        # The hyper-parameters this model is built with, before __init__ converts them.
        object.__setattr__(instance, "_hparams", hparams.bind(cls, args, kwargs))
        return instance

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

    def get_config(self):
        """The constructor's keyword arguments this model was built with, as JSON types."""
        return hparams.to_json(self._hparams)

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def build_example(self, batch_size=1):
        """Creates the variables by calling the model on `example_features(batch_size)`."""
        if not self.built:
            self(self.example_features(batch_size))
        return self

    def get_build_config(self):
        # Keras-native saving: `load_model` calls `build_from_config` before loading weights.
        return {"example_batch_size": 1}

    def build_from_config(self, config):
        self.build_example(config["example_batch_size"])

    @property
    def metrics(self):
        return [self._loss_tracker, *self._metric_trackers.values()]

    def _update_metrics(self, loss, values):
        self._loss_tracker.update_state(loss)
        for name, value in values.items():
            self._metric_trackers[name].update_state(value)
        return {metric.name: metric.result() for metric in self.metrics}

    def make_train_function(self, force=False):
        # A `tf.function` whose first call creates variables is traced twice: creating the
        # optimizer's slots for a built model first spares `fit` the second trace of train_step.
        if self.built and isinstance(self.optimizer, tf.keras.optimizers.Optimizer):
            self.optimizer.build(self.trainable_variables)
        return super().make_train_function(force)

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
