"""Hyper-parameters: one source of truth, the constructor's signature.

A model's hyper-parameters are the keyword arguments of its constructor, each
with its default written there once. The registry's defaults, `get_config` and
the CLIs' `--hparams key=value,...` are all derived from that signature:

>>> class Net:
...     def __init__(self, num_layers=4, filters=32, image_shape=(28, 28, 1), **kwargs):
...         pass
>>> defaults(Net)
{'num_layers': 4, 'filters': 32, 'image_shape': (28, 28, 1)}
>>> resolve(defaults(Net), "num_layers=8,image_shape=(8, 8, 1)")
{'num_layers': 8, 'filters': 32, 'image_shape': (8, 8, 1)}
"""

import ast
import inspect
import json

_KINDS = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def defaults(cls, exclude=()):
    """The hyper-parameters of `cls`: its constructor's named arguments and their defaults.

    Args:
      cls: a class whose `__init__` gives every hyper-parameter a default.
      exclude: argument names that are not hyper-parameters (e.g. the
        environment of an RL algorithm, set by its runner).

    Returns:
      A dict name -> default, in signature order.

    Raises:
      TypeError: if a named argument has no default.
    """
    result = {}
    for name, parameter in list(inspect.signature(cls.__init__).parameters.items())[1:]:
        if parameter.kind not in _KINDS or name in exclude:
            continue
        if parameter.default is inspect.Parameter.empty:
            raise TypeError(
                f"{cls.__name__}.__init__: expected a default for every "
                f"hyper-parameter, got none for {name!r}."
            )
        result[name] = parameter.default
    return result


def bind(cls, args, kwargs):
    """The hyper-parameter values of the call `cls(*args, **kwargs)`, defaults filled in."""
    signature = inspect.signature(cls.__init__)
    bound = signature.bind(None, *args, **kwargs)
    bound.apply_defaults()
    names = defaults(cls)
    return {name: value for name, value in bound.arguments.items() if name in names}


def to_json(value):
    """`value` as plain JSON types: tuples become lists, NumPy scalars numbers."""
    return json.loads(
        json.dumps(value, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v))
    )


def parse(text):
    """Parses `"key=value,key=value"` into a dict of Python literals.

    Values are read with `ast.literal_eval` (`3`, `0.5`, `True`, `(28, 28, 1)`,
    `'name'`); anything that is not a literal is kept as a string. Commas inside
    brackets do not split.

    >>> parse("num_layers=4,image_shape=(8, 8, 1),output=softmax")
    {'num_layers': 4, 'image_shape': (8, 8, 1), 'output': 'softmax'}
    """
    if not text:
        return {}
    if not isinstance(text, str):
        raise TypeError(f"hparams: expected a 'key=value,...' string, got {type(text).__name__}.")
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
            raise ValueError(f"hparams: expected 'key=value,...', got {item!r} in {text!r}.")
        try:
            result[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            result[key.strip()] = value.strip()
    return result


def _check_type(name, value, default):
    """Checks an override against the type of its default (None and dicts accept anything)."""
    if default is None or value is None or isinstance(default, dict):
        return value
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, (list, tuple)):
        ok = isinstance(value, (list, tuple))
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise TypeError(
            f"hparams: expected {name} of type {type(default).__name__} (default "
            f"{default!r}), got {value!r} ({type(value).__name__})."
        )
    return value


def resolve(hparam_defaults, *overrides):
    """`hparam_defaults` updated by each of `overrides` in turn (dicts or strings).

    Raises:
      ValueError: on a key that is not a hyper-parameter.
      TypeError: on a value whose type does not match its default's.
    """
    result = dict(hparam_defaults)
    for override in overrides:
        if override is None or isinstance(override, str):
            override = parse(override)
        unknown = sorted(set(override) - set(hparam_defaults))
        if unknown:
            raise ValueError(
                f"hparams: expected keys among {sorted(hparam_defaults)}, got unknown {unknown}."
            )
        for name, value in override.items():
            result[name] = _check_type(name, value, hparam_defaults[name])
    return result
