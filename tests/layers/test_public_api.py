"""The public API of tfgen.layers: exports, Keras registration, docstrings."""

import inspect
import pathlib
import re

import pytest
import tensorflow as tf

import tfgen.layers
from tests.public_api import public_members

SECTIONS = ("Reference:", "Args:", "Call arguments:", "Returns:", "Example:")


MEMBERS = public_members(tfgen.layers)
LAYERS = [
    (name, value)
    for name, value in MEMBERS
    if inspect.isclass(value) and issubclass(value, tf.keras.layers.Layer)
]
LAYER_IDS = [name for name, _ in LAYERS]


def test_every_public_layer_and_function_is_exported():
    assert sorted(tfgen.layers.__all__) == [name for name, _ in MEMBERS]
    for name, value in MEMBERS:
        assert getattr(tfgen.layers, name) is value


@pytest.mark.parametrize("name, layer_cls", LAYERS, ids=LAYER_IDS)
def test_layer_is_a_registered_serializable(name, layer_cls):
    assert tf.keras.saving.get_registered_name(layer_cls) == f"tfgen>{name}"
    assert tf.keras.saving.get_registered_object(f"tfgen>{name}") is layer_cls


@pytest.mark.parametrize("name, layer_cls", LAYERS, ids=LAYER_IDS)
def test_layer_docstring(name, layer_cls):
    doc = inspect.getdoc(layer_cls)
    positions = [doc.find(section) for section in SECTIONS]
    assert -1 not in positions, f"{name}: missing {SECTIONS[positions.index(-1)]}"
    reference = doc[positions[0] : positions[1]]
    assert re.search(r"arXiv\s+\d{4}\.\d{5},\s+Sec\.\s+\d", reference), f"{name}: {reference}"
    assert ">>> " in doc[positions[-1] :], f"{name}: the example has no doctest"
    assert "DESIGN" not in doc


def test_no_design_document_references():
    for path in pathlib.Path(tfgen.layers.__file__).parent.glob("*.py"):
        assert "DESIGN" not in path.read_text(), path
