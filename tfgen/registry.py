"""Name -> model builder, default hyper-parameters, default dataset.

Every model in ``tfgen.models`` registers itself here, so the CLIs
(``python -m training``/``export``) and the conformance suite find it by name:

>>> import tfgen.registry
>>> tfgen.registry.names()
['pixelcnn', ...]
>>> model = tfgen.registry.build("pixelcnn", "num_layers=4", dataset="digits")
"""

import ast
import dataclasses
import importlib
import pkgutil
import types
from typing import Any, Callable, Mapping, Optional, Tuple


@dataclasses.dataclass(frozen=True)
class Entry:
    """A registered model.

    Attributes:
      name: the short name used by the CLIs (`--model NAME`).
      model_class: the `tf.keras.Model` subclass.
      hparams: default hyper-parameters (the constructor's keyword arguments).
      dataset: default dataset name in `tfgen.data`.
      dataset_options: keyword options for `tfgen.data.load` (e.g. the view).
      data_hparams: maps a `tfgen.data.DatasetInfo` to the hyper-parameters the
        data fixes (image shape, number of levels, number of classes).
      signatures: names of the export signatures the model provides.
      test_hparams: small hyper-parameters for fast tests (conformance suite).
      test_dataset: the dataset the fast tests build the model for.
      test_dataset_options: its `tfgen.data.load` options.
    """

    name: str
    model_class: type
    hparams: Mapping[str, Any]
    dataset: str
    dataset_options: Mapping[str, Any]
    data_hparams: Callable[[Any], Mapping[str, Any]]
    signatures: Tuple[str, ...]
    test_hparams: Mapping[str, Any]
    test_dataset: str
    test_dataset_options: Mapping[str, Any]


_REGISTRY = {}


def register(name, *, hparams, dataset, dataset_options=None, data_hparams=None,
             signatures=("serving_default",), test_hparams=None, test_dataset=None,
             test_dataset_options=None):
    """Class decorator registering a model class under `name`."""

    def decorator(model_class):
        if name in _REGISTRY and _REGISTRY[name].model_class is not model_class:
            raise ValueError(f"Model name {name!r} is already registered to "
                             f"{_REGISTRY[name].model_class.__name__}.")
        _REGISTRY[name] = Entry(
            name=name,
            model_class=model_class,
            hparams=types.MappingProxyType(dict(hparams)),
            dataset=dataset,
            dataset_options=types.MappingProxyType(dict(dataset_options or {})),
            data_hparams=data_hparams or (lambda info: {}),
            signatures=tuple(signatures),
            test_hparams=types.MappingProxyType(dict(test_hparams or {})),
            test_dataset=test_dataset or dataset,
            test_dataset_options=types.MappingProxyType(
                dict((test_dataset_options if test_dataset else dataset_options) or {})),
        )
        return model_class

    return decorator


def _load_all():
    """Imports every module of `tfgen.models`; importing one registers its models."""
    from tfgen import models

    for module in pkgutil.iter_modules(models.__path__):
        importlib.import_module(f"tfgen.models.{module.name}")


def names():
    """Sorted names of all registered models."""
    _load_all()
    return sorted(_REGISTRY)


def get(name):
    """The `Entry` registered under `name`."""
    _load_all()
    if name not in _REGISTRY:
        raise ValueError(f"Unknown model {name!r}; expected one of {sorted(_REGISTRY)}.")
    return _REGISTRY[name]


def parse_hparams(text):
    """Parses `"key=value,key=value"` into a dict of Python literals.

    Values are read with `ast.literal_eval` (`3`, `0.5`, `True`, `(28, 28, 1)`,
    `'name'`); anything that is not a literal is kept as a string. Commas inside
    brackets do not split.
    """
    if not text:
        return {}
    if not isinstance(text, str):
        raise TypeError(f"hparams must be a 'key=value,...' string, got {type(text).__name__}.")
    items, depth, current = [], 0, ""
    for char in text:
        depth += char in "([{"
        depth -= char in ")]}"
        if char == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += char
    items.append(current)
    result = {}
    for item in filter(None, (i.strip() for i in items)):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"Expected hparams as 'key=value,...', got {item!r} in {text!r}.")
        try:
            result[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            result[key.strip()] = value.strip()
    return result


def resolve_hparams(name, overrides=None, dataset=None, dataset_options=None):
    """Defaults, then what the dataset fixes, then `overrides` (dict or string)."""
    entry = get(name)
    if isinstance(overrides, str) or overrides is None:
        overrides = parse_hparams(overrides)
    unknown = set(overrides) - set(entry.hparams)
    if unknown:
        raise ValueError(f"Unknown hparams {sorted(unknown)} for model {name!r}; "
                         f"expected some of {sorted(entry.hparams)}.")
    from tfgen import data  # Imported late: data pulls in sklearn/mlxtend.

    info = data.info(dataset or entry.dataset, **dict(dataset_options or entry.dataset_options))
    hparams = dict(entry.hparams)
    hparams.update(entry.data_hparams(info))
    hparams.update(overrides)
    return hparams


def build(name, overrides=None, dataset=None, dataset_options=None):
    """Builds model `name` with its defaults, the dataset's shapes and `overrides`."""
    return get(name).model_class(**resolve_hparams(name, overrides, dataset, dataset_options))


def dataset_options(name, dataset=None, overrides: Optional[Mapping[str, Any]] = None):
    """The `tfgen.data.load` options for model `name` trained on `dataset`."""
    entry = get(name)
    options = dict(entry.dataset_options) if dataset in (None, entry.dataset) else {}
    options.update(overrides or {})
    return options
