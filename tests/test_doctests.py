"""Runs the docstring examples (`>>>`) of every module of the `tfgen` package as doctests.

One test per module, found on disk (the package tree is walked without
importing it, so a module that fails to import fails its own test instead of
hiding the others). Examples run with ELLIPSIS (`[..., 'pixelcnn', ...]`) and
NORMALIZE_WHITESPACE, in a copy of the module's globals, as `doctest.testmod`
runs them.
"""

import doctest
import importlib
import importlib.util
import pkgutil

import pytest

PACKAGE = "tfgen"
OPTIONFLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _module_names(package=PACKAGE):
    """`package` and all its submodules, as `pkgutil.walk_packages` lists them."""
    paths = importlib.util.find_spec(package).submodule_search_locations
    names = [package]
    for info in pkgutil.iter_modules(paths, prefix=f"{package}."):
        if info.ispkg:
            names.extend(_module_names(info.name))
        elif not info.name.endswith(".__main__"):  # importing it would run a CLI
            names.append(info.name)
    return sorted(names)


MODULES = _module_names()


def _doctests(module):
    finder = doctest.DocTestFinder(exclude_empty=True)
    return [test for test in finder.find(module, module.__name__) if test.examples]


def _run(name):
    """(`doctest.TestResults`, failure report) of the examples of module `name`."""
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=OPTIONFLAGS, verbose=False)
    report = []
    for test in _doctests(module):
        runner.run(test, out=report.append, clear_globs=True)
    return doctest.TestResults(runner.failures, runner.tries), "".join(report)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    results, report = _run(name)
    assert results.failed == 0, (
        f"{name}: {results.failed} of {results.attempted} docstring examples failed:\n{report}"
    )


def test_modules_are_found_and_examples_run():
    assert {"tfgen", "tfgen.registry", "tfgen.layers", "tfgen.layers.noisy_dense"} <= set(MODULES)
    attempted = {
        name: _run(name)[0].attempted
        for name in ("tfgen.layers.upsampling", "tfgen.layers.masked_conv")
    }
    assert all(attempted.values()), f"no docstring example ran: {attempted}"
