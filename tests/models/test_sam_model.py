"""SAMModel (Rae et al. 2016, arXiv 1610.09027, Sec. 5): SAM and the dense core learn the tasks."""

import math

import pytest
import tensorflow as tf

from tests.models.sequence_training import fit_and_evaluate
from tfgen import data
from tfgen.layers.memory import DenseMemoryCell
from tfgen.layers.sparse_memory import SparseMemory
from tfgen.models.sam import SAMModel
from tfgen.models.sequence_task import data_hparams

COPY = {"num_bits": 4, "max_len": 4}
RECALL = {"num_bits": 4, "item_len": 1, "min_items": 2, "max_items": 3}
SIZES = dict(units=32, memory_size=16, word_size=8)
CHANCE = math.log(2.0)  # Nats per bit of a coin flip: what a net that remembers nothing gets.


def _model(dataset, options, **hparams):
    tf.keras.utils.set_random_seed(0)
    info = data.info(dataset, **options)
    return SAMModel(**data_hparams(info), **SIZES, **hparams).build_example()


def test_sam_learns_copy():
    metrics = fit_and_evaluate(_model("copy", COPY), "copy", COPY, 200)
    assert metrics["nats_per_target"] < CHANCE / 2, metrics


@pytest.mark.parametrize("core", ["sparse", "dense"])
def test_sam_and_dense_core_learn_associative_recall(core):
    """The answer is the item after the query: without memory, a coin flip per bit."""
    model = _model("associative_recall", RECALL, core=core)
    metrics = fit_and_evaluate(model, "associative_recall", RECALL, 200)
    assert metrics["nats_per_target"] < CHANCE / 2, metrics
    assert metrics["bit_errors"] < RECALL["num_bits"] / 4, metrics


def test_cores():
    sparse = _model("copy", COPY, index="lsh", num_neighbours=2)
    assert isinstance(sparse.core, SparseMemory) and sparse.core.index == "lsh"
    assert sparse.core.num_neighbours == 2
    dense = _model("copy", COPY, core="dense")
    assert isinstance(dense.core.cell, DenseMemoryCell)
    assert dense.core.cell.memory_size == SIZES["memory_size"]
    # The same controller and head: the dense core has exactly SAM's weights.
    assert [w.shape for w in dense.trainable_weights] == [w.shape for w in sparse.trainable_weights]


def test_bad_core():
    with pytest.raises(ValueError, match="core: expected one of"):
        SAMModel(core="ntm")
