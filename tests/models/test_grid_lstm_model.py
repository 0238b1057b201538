"""GridLSTMModel (Kalchbrenner et al. 2015, arXiv 1507.01526): text, parity, the LSTM baseline."""

import numpy as np
import tensorflow as tf

from tests.models.sequence_training import fit_and_evaluate
from tfgen import data
from tfgen.data import text
from tfgen.models.grid_lstm import GridLSTMModel
from tfgen.models.sequence_task import data_hparams

TEXT = {"seq_len": 32}


def _model(dataset, options, **hparams):
    tf.keras.utils.set_random_seed(3)
    return GridLSTMModel(**data_hparams(data.info(dataset, **options)), **hparams).build_example()


def _num_weights(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def _unigram_bits_per_char():
    """Bits per test character of Laplace-smoothed byte frequencies of the train split."""
    splits = text.split_bytes()
    counts = np.bincount(np.frombuffer(splits["train"], np.uint8), minlength=256) + 1.0
    test = np.frombuffer(splits["test"], np.uint8)
    return float(-np.mean(np.log2(counts[test] / counts.sum())))


def test_text_beats_the_unigram_baseline():
    """A 2-D (depth x time) tied grid of 2 layers beats byte frequencies in a short run."""
    model = _model("text", TEXT, units=64, num_layers=2)
    metrics = fit_and_evaluate(model, "text", TEXT, 250)
    baseline = _unigram_bits_per_char()  # about 4.6 bits
    assert metrics["bits_per_char"] < baseline - 0.3, (metrics, baseline)


def test_one_dimensional_grid_on_parity_beats_chance():
    """Sec. 4.1: a tied 1-D grid over depth reads the whole parity vector at once."""
    options = {"num_bits": 4}
    model = _model("parity", options, core="grid_1d", units=32, num_layers=3)
    metrics = fit_and_evaluate(model, "parity", options, 300, batch_size=64)
    assert metrics["nats_per_target"] < 0.4, metrics
    assert metrics["error_rate"] < 0.25, metrics


def test_stacked_lstm_baseline_has_the_lstm_parameter_count():
    """core="lstm": num_layers LSTMs, 4 gates of (input + hidden + 1) weights per unit each."""
    model = _model("text", TEXT, core="lstm", units=8, num_layers=2)
    lstm = 4 * 8 * (256 + 8 + 1) + 4 * 8 * (8 + 8 + 1)
    head = 8 * 256 + 256
    assert _num_weights(model) == lstm + head


def test_tied_grid_shares_one_block_along_depth():
    tied = _num_weights(_model("text", TEXT, units=8, num_layers=3))
    untied = _num_weights(_model("text", TEXT, units=8, num_layers=3, tied=False))
    # Each 2-D block has two transforms of [2 units, 4 units] kernels and [4 units] biases.
    block = 2 * (2 * 8 * 4 * 8 + 4 * 8)
    assert untied - tied == 2 * block
