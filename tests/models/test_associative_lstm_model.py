"""AssociativeLSTMModel (Danihelka et al. 2016, arXiv 1602.03032): copy tasks, the baseline."""

import numpy as np
import tensorflow as tf

from tests.models.sequence_training import fit_and_evaluate
from tfgen import data
from tfgen.models.associative_lstm import AssociativeLSTMModel
from tfgen.models.sequence_task import data_hparams

COPY = {"num_bits": 4, "max_len": 3}
EPISODIC_COPY = {"num_chars": 4, "max_len": 3, "max_pause": 3}


def _model(dataset, options, **hparams):
    tf.keras.utils.set_random_seed(4)
    info = data.info(dataset, **options)
    return AssociativeLSTMModel(**data_hparams(info), **hparams).build_example()


def _num_weights(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_copy_beats_guessing_bits():
    """Below the 0.693 nats per bit of a coin flip, with fewer than half the sequences wrong."""
    model = _model("copy", COPY, units=16)
    metrics = fit_and_evaluate(model, "copy", COPY, 150)
    assert metrics["nats_per_target"] < 0.35, metrics
    assert metrics["bit_errors"] < 2.0, metrics


def test_episodic_copy_recalls_the_characters():
    """Sec. 5 episodic copy: far fewer sequence errors than a network without memory."""
    model = _model("episodic_copy", EPISODIC_COPY, units=16)
    metrics = fit_and_evaluate(model, "episodic_copy", EPISODIC_COPY, 150)
    # Without memory, the best guess of the L recalled characters is right with (1/4)^L.
    lengths = np.arange(1, EPISODIC_COPY["max_len"] + 1)
    memoryless_error = 1.0 - np.mean(0.25**lengths)  # about 0.89
    assert metrics["error_rate"] < memoryless_error - 0.4, metrics


def test_lstm_baseline_has_the_lstm_parameter_count():
    model = _model("episodic_copy", EPISODIC_COPY, core="lstm", units=8)
    inputs, labels = EPISODIC_COPY["num_chars"] + 2, EPISODIC_COPY["num_chars"] + 2
    lstm = 4 * 8 * (inputs + 8 + 1)
    assert _num_weights(model) == lstm + 8 * labels + labels


def test_associative_core_outputs_real_and_imaginary_parts():
    """The head reads 2 * units real features; the copies add no trainable parameters."""
    one = _model("episodic_copy", EPISODIC_COPY, units=4, num_copies=1)
    three = _model("episodic_copy", EPISODIC_COPY, units=4, num_copies=3)
    assert one.head.kernel.shape[0] == 2 * 4
    assert _num_weights(one) == _num_weights(three)
