"""ACTModel (Graves 2016, arXiv 1603.08983): parity beats chance; ponder metrics; the baseline."""

import numpy as np
import tensorflow as tf

from tests.models.sequence_training import fit_and_evaluate
from tfgen import data
from tfgen.models.act import ACTModel
from tfgen.models.sequence_task import data_hparams

PARITY = {"num_bits": 8}
ADDITION = {"num_digits": 2, "seq_len": 3}


def _model(dataset, options, **hparams):
    tf.keras.utils.set_random_seed(2)
    return ACTModel(**data_hparams(data.info(dataset, **options)), **hparams).build_example()


def test_parity_beats_chance():
    """8-bit parity (Sec. 3.1, 64 bits in the paper): below chance's 0.693 nats and 50% error."""
    model = _model("parity", PARITY, units=64, max_ponder_steps=5)
    metrics = fit_and_evaluate(model, "parity", PARITY, 1000, batch_size=128, learning_rate=3e-3)
    assert metrics["nats_per_target"] < 0.62, metrics
    assert metrics["error_rate"] < 0.4, metrics
    assert 1.0 <= metrics["ponder_steps"] <= 5.0, metrics


def test_ponder_metrics_are_per_step_means_of_the_cell_outputs():
    model = _model("addition", ADDITION, core="lstm", units=8, max_ponder_steps=4)
    features = model.example_features(3, seed=1)
    outputs = model.signatures()["serving_default"](inputs=features["inputs"])
    steps, cost = outputs["ponder_steps"].numpy(), outputs["ponder_cost"].numpy()
    assert steps.shape == cost.shape == (3, ADDITION["seq_len"])
    # 1603.08983 Eq. 6-7, 11: 1 <= N(t) <= M, integer; rho = N + R with R in (0, 1].
    assert np.all((steps >= 1) & (steps <= 4)) and np.all(steps == np.round(steps))
    assert np.all((cost > steps) & (cost <= steps + 1 + 1e-6))
    _, metrics = model.compute_losses(features)
    np.testing.assert_allclose(metrics["ponder_steps"], steps.mean(-1), rtol=1e-6)
    np.testing.assert_allclose(metrics["ponder_cost"], cost.mean(-1), rtol=1e-6)


def test_one_fixed_step_is_the_baseline():
    """max_ponder_steps=1: one step per input, N + R = 1 + 1 (Sec. 3's fixed-computation net)."""
    model = _model("addition", ADDITION, units=8, max_ponder_steps=1)
    _, metrics = model.compute_losses(model.example_features(3))
    np.testing.assert_array_equal(metrics["ponder_steps"], 1.0)
    np.testing.assert_allclose(metrics["ponder_cost"], 2.0)


def test_time_penalty_enters_the_training_gradient_only():
    """The ponder cost reaches the halting unit's gradient in training, weighted by tau."""
    features = None
    gradients = {}
    for tau in (0.0, 0.5):
        model = _model("parity", PARITY, units=8, max_ponder_steps=4, time_penalty=tau)
        features = features or model.example_features(4, seed=3)
        halting_bias = [w for w in model.trainable_weights if "halting_bias" in w.name][0]
        for training in (False, True):
            with tf.GradientTape() as tape:
                loss, _ = model.compute_losses(features, training=training)
            gradients[tau, training] = tape.gradient(loss, halting_bias).numpy()
    np.testing.assert_allclose(gradients[0.0, True], gradients[0.0, False], rtol=1e-6)
    np.testing.assert_allclose(gradients[0.5, False], gradients[0.0, False], rtol=1e-6)
    # dP/dh^n = -1 for n < N: the penalty pushes the halting bias up (fewer steps).
    assert gradients[0.5, True][0] < gradients[0.0, True][0]
