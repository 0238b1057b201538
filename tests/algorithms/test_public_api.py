"""The public API of tfgen.algorithms: every public class and function, exported, documented."""

import importlib
import inspect
import pkgutil

import tfgen.algorithms
from tests.public_api import public_members

MEMBERS = public_members(tfgen.algorithms)


def test_every_public_class_and_function_is_exported():
    assert sorted(tfgen.algorithms.__all__) == [name for name, _ in MEMBERS]
    for name, value in MEMBERS:
        assert getattr(tfgen.algorithms, name) is value


def test_every_module_cites_its_paper():
    for info in pkgutil.iter_modules(tfgen.algorithms.__path__, "tfgen.algorithms."):
        doc = importlib.import_module(info.name).__doc__
        assert doc and "arXiv" in doc, info.name


def test_every_public_member_has_a_docstring():
    for name, value in MEMBERS:
        doc = inspect.getdoc(value)
        assert doc and doc != inspect.getdoc(object), name
