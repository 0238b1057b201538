"""The shared sequence-task model: layouts, masked losses and metrics against NumPy."""

import numpy as np
import pytest
import tensorflow as tf
from scipy import special

from tfgen import data
from tfgen.models.act import ACTModel
from tfgen.models.associative_lstm import AssociativeLSTMModel
from tfgen.models.grid_lstm import GridLSTMModel
from tfgen.models.sequence_task import data_hparams

# Small options of every dataset the three models train on.
SMALL_DATASETS = {
    "parity": {"num_bits": 8},
    "logic": {"max_len": 3, "max_gates": 2},
    "addition": {"num_digits": 2, "seq_len": 3},
    "sort": {"max_len": 3},
    "long_addition": {"num_digits": 2},
    "copy": {"num_bits": 3, "max_len": 2},
    "repeat_copy": {"num_bits": 3, "max_len": 2, "max_repeats": 2},
    "episodic_copy": {"num_chars": 3, "max_len": 2, "max_pause": 2},
    "xml": {"seq_len": 12},
    "variable_assignment": {"max_assignments": 2, "max_key_len": 2},
    "text": {"seq_len": 6},
}


def _model(model_class, dataset, **hparams):
    tf.keras.utils.set_random_seed(1)
    info = data.info(dataset, **SMALL_DATASETS[dataset])
    return model_class(**data_hparams(info), **hparams).build_example()


# One model per layout and kind of target and input.
CASES = {
    "classes_per_step": lambda: _model(
        ACTModel, "addition", core="lstm", units=4, max_ponder_steps=2
    ),
    "one_target": lambda: _model(ACTModel, "parity", units=4, max_ponder_steps=3),
    "bits": lambda: _model(AssociativeLSTMModel, "copy", units=4, num_copies=2),
    "symbol_inputs": lambda: _model(AssociativeLSTMModel, "xml", units=4, num_copies=2),
    "tokens": lambda: _model(GridLSTMModel, "text", units=4, num_layers=2),
}


def _reference(model, features):
    """Per-sequence nats, target counts and wrong targets, from the paper's definitions."""
    if model.layout == "tokens":
        tokens = features["tokens"].numpy()
        targets, weights = tokens[:, 1:], np.ones(tokens[:, 1:].shape)
    elif model.layout == "target":
        targets, weights = features["target"].numpy(), np.ones(features["target"].shape)
    else:
        targets, weights = features["targets"].numpy(), features["mask"].numpy()
    logits = model(features).numpy().astype(np.float64)
    if model.num_labels:
        log_p = special.log_softmax(logits, axis=-1)
        nats = -np.take_along_axis(log_p, targets[..., None].astype(int), -1)[..., 0]
        wrong = np.argmax(logits, -1) != targets
    else:
        nats = np.logaddexp(0.0, logits) - targets * logits  # -log Bernoulli(target; sigmoid)
        wrong = (logits > 0) != (targets > 0.5)
    if nats.ndim > weights.ndim:
        weights = np.broadcast_to(weights[..., None], nats.shape)
    axes = tuple(range(1, nats.ndim))
    return (
        np.sum(weights * nats, axis=axes),
        np.sum(weights, axis=axes),
        np.sum(weights * wrong, axis=axes),
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_loss_and_metrics_equal_numpy_reference(case):
    model = CASES[case]()
    features = model.example_features(5, seed=3)
    loss, metrics = model.compute_losses(features)
    nats, count, wrong = _reference(model, features)
    np.testing.assert_allclose(loss.numpy(), nats.mean(), rtol=1e-5)
    np.testing.assert_allclose(model.log_prob(features).numpy(), -nats, rtol=1e-5, atol=1e-6)
    per_target = nats / np.maximum(count, 1.0)
    if model.layout == "tokens":
        assert sorted(metrics) == ["bits_per_char"]
        np.testing.assert_allclose(metrics["bits_per_char"], per_target / np.log(2.0), rtol=1e-5)
        return
    np.testing.assert_allclose(metrics["nats_per_target"], per_target, rtol=1e-5, atol=1e-6)
    # A sequence is an error if any of its (masked) targets is wrong.
    np.testing.assert_array_equal(metrics["error_rate"], (wrong > 0).astype(np.float32))
    if not model.num_labels:
        np.testing.assert_array_equal(metrics["bit_errors"], wrong)
    for value in metrics.values():
        assert value.shape == (5,)


@pytest.mark.parametrize("case", ["classes_per_step", "bits"])
def test_masked_out_targets_do_not_change_the_loss(case):
    model = CASES[case]()
    features = model.example_features(4, seed=5)
    mask = np.zeros(features["mask"].shape, np.float32)
    mask[:, 1] = 1.0
    features["mask"] = tf.constant(mask)
    loss = model.compute_losses(features)[0].numpy()
    num_labels = max(model.num_labels, 2)
    targets = features["targets"].numpy()
    changed = targets.copy()
    changed[:, 0] = (changed[:, 0] + 1) % num_labels  # a masked-out step
    changed[:, 2:] = (changed[:, 2:] + 1) % num_labels
    same = model.compute_losses({**features, "targets": tf.constant(changed)})[0].numpy()
    assert same == loss
    changed[:, 1] = (changed[:, 1] + 1) % num_labels  # the step with a target
    other = model.compute_losses({**features, "targets": tf.constant(changed)})[0].numpy()
    assert other != loss


def test_tokens_are_predicted_from_earlier_tokens_only():
    model = CASES["tokens"]()
    tokens = model.example_features(2, seed=1)["tokens"].numpy()
    serve = model.signatures()["serving_default"]
    before = serve(tokens=tokens)["probabilities"].numpy()
    tokens[:, -2] = (tokens[:, -2] + 7) % 256
    after = serve(tokens=tokens)["probabilities"].numpy()
    np.testing.assert_array_equal(after[:, :-2], before[:, :-2])
    assert not np.allclose(after[:, -2:], before[:, -2:])


@pytest.mark.parametrize("dataset", sorted(SMALL_DATASETS))
def test_data_hparams_fit_each_dataset(dataset):
    """The model built from a dataset's info reads its batches and mimics its features."""
    model = _model(AssociativeLSTMModel, dataset, core="lstm", units=4)
    info = data.info(dataset, **SMALL_DATASETS[dataset])
    example = model.example_features(3)
    assert sorted(example) == sorted(info.features)
    for key, spec in info.features.items():
        assert example[key].dtype == spec.dtype, key
        assert example[key].shape[1:] == spec.shape, key
    batch = next(iter(data.load(dataset, "train", batch_size=3, **SMALL_DATASETS[dataset])))
    loss, metrics = model.compute_losses(batch)
    assert np.isfinite(loss.numpy())
    assert all(value.shape == (3,) for value in metrics.values())


def test_serving_outputs_per_step():
    model = CASES["classes_per_step"]()
    features = model.example_features(3)
    outputs = model.signatures()["serving_default"](inputs=features["inputs"])
    steps, digits = features["targets"].shape[1:]
    assert outputs["probabilities"].shape == (3, steps, digits, model.num_labels)
    np.testing.assert_allclose(outputs["probabilities"].numpy().sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(
        outputs["predictions"], np.argmax(outputs["probabilities"].numpy(), -1)
    )


@pytest.mark.parametrize(
    "hparams, message",
    [
        ({"layout": "rows"}, "layout"),
        ({"core": "gru"}, "core"),
        ({"num_labels": 0, "target_size": 0}, "target_size"),
        ({"layout": "tokens", "num_categories": 0}, "tokens"),
    ],
)
def test_bad_hyper_parameters_say_what_arrived(hparams, message):
    with pytest.raises(ValueError, match=message):
        AssociativeLSTMModel(units=4, **hparams)
