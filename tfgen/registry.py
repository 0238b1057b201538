"""Name -> model builder, default hyper-parameters, default dataset.

Every model in ``tfgen.models`` and every RL algorithm in ``tfgen.rl`` registers
itself here, so the CLIs (``python -m training``/``export``) and the
conformance suite find it by name. The hyper-parameters and their defaults are
those of the class's constructor (`tfgen.hparams`):

>>> import tfgen.registry
>>> tfgen.registry.names()
[..., 'pixelcnn', ...]
>>> model = tfgen.registry.build("pixelcnn", "num_layers=2,filters=8", dataset="digits")
>>> model.get_config()["num_layers"]
2
"""

import dataclasses
import importlib
import pkgutil
import types
from typing import Any, Callable, Mapping, Optional, Tuple

from tfgen import hparams as hparams_lib

MODEL, AGENT = "model", "agent"


@dataclasses.dataclass(frozen=True)
class Entry:
    """A registered model or RL algorithm.

    Attributes:
      name: the short name used by the CLIs (`--model NAME`).
      model_class: the `tf.keras.Model` subclass (or, for an agent, the
        algorithm's class).
      kind: `"model"` (a `GenerativeModel` trained with `fit`) or `"agent"` (an
        RL algorithm trained on an environment by its own runner).
      dataset: default dataset name in `tfgen.data` (an environment name for
        an agent).
      dataset_options: keyword options for `tfgen.data.load` (e.g. the view).
      data_hparams: maps a `tfgen.data.DatasetInfo` to the hyper-parameters the
        data fixes (image shape, number of levels, number of labels).
      signatures: names of the export signatures the model provides.
      runtime_args: constructor arguments that are not hyper-parameters (set
        by the runner, e.g. an agent's environment and thread count).
    """

    name: str
    model_class: type
    kind: str
    dataset: str
    dataset_options: Mapping[str, Any]
    data_hparams: Callable[[Any], Mapping[str, Any]]
    signatures: Tuple[str, ...]
    runtime_args: Tuple[str, ...] = ()

    @property
    def hparams(self):
        """Default hyper-parameters: the constructor's keyword defaults."""
        return types.MappingProxyType(hparams_lib.defaults(self.model_class, self.runtime_args))


_REGISTRY = {}


def register(
    name,
    *,
    dataset,
    dataset_options=None,
    data_hparams=None,
    signatures=("serving_default",),
    kind=MODEL,
    runtime_args=(),
):
    """Class decorator registering a model (or, `kind="agent"`, an RL algorithm) as `name`."""
    if kind not in (MODEL, AGENT):
        raise ValueError(f"kind: expected {MODEL!r} or {AGENT!r}, got {kind!r}.")

    def decorator(model_class):
        if name in _REGISTRY and _REGISTRY[name].model_class is not model_class:
            raise ValueError(
                f"Model name {name!r} is already registered to "
                f"{_REGISTRY[name].model_class.__name__}."
            )
        entry = Entry(
            name=name,
            model_class=model_class,
            kind=kind,
            dataset=dataset,
            dataset_options=types.MappingProxyType(dict(dataset_options or {})),
            data_hparams=data_hparams or (lambda info: {}),
            signatures=tuple(signatures),
            runtime_args=tuple(runtime_args),
        )
        # Fails now, not at first use, on a hyper-parameter without a default.
        hparams_lib.defaults(model_class, runtime_args)
        _REGISTRY[name] = entry
        return model_class

    return decorator


def _load_all():
    """Imports every module of `tfgen.models` and `tfgen.rl`; importing one registers it."""
    for package in ("tfgen.models", "tfgen.rl"):
        path = importlib.import_module(package).__path__
        for module in pkgutil.iter_modules(path):
            importlib.import_module(f"{package}.{module.name}")


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
    """Parses `"key=value,key=value"` into a dict (see `tfgen.hparams.parse`)."""
    return hparams_lib.parse(text)


def resolve_hparams(name, overrides=None, dataset=None, dataset_options=None):
    """Defaults, then what the dataset fixes, then `overrides` (dict or string)."""
    entry = get(name)
    data_fixed = {}
    if entry.kind == MODEL:
        from tfgen import data  # Imported late: data pulls in sklearn/mlxtend.

        info = data.info(dataset or entry.dataset, **dict(dataset_options or entry.dataset_options))
        data_fixed = entry.data_hparams(info)
    return hparams_lib.resolve(entry.hparams, data_fixed, overrides)


def build(name, overrides=None, dataset=None, dataset_options=None):
    """Builds model `name` with its defaults, the dataset's shapes and `overrides`.

    The model's variables are created (`model.summary()` works at once).
    """
    entry = get(name)
    if entry.kind != MODEL:
        raise ValueError(
            f"Expected a model name, got {entry.kind} {name!r}; agents are "
            f"built by their runner with their environment."
        )
    model = entry.model_class(**resolve_hparams(name, overrides, dataset, dataset_options))
    return model.build_example()


def dataset_options(name, dataset=None, overrides: Optional[Mapping[str, Any]] = None):
    """The `tfgen.data.load` options for model `name` trained on `dataset`."""
    entry = get(name)
    options = dict(entry.dataset_options) if dataset in (None, entry.dataset) else {}
    options.update(overrides or {})
    return options
