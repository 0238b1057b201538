"""The public classes and functions a `tfgen` package defines, for its public-API test."""

import importlib
import inspect
import pkgutil


def public_members(package):
    """Sorted (name, object) of every public class and function defined in the package's modules.

    Args:
      package: an imported package, e.g. `tfgen.layers`.
    """
    members = {}
    for info in pkgutil.iter_modules(package.__path__, f"{package.__name__}."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                not name.startswith("_")
                and getattr(value, "__module__", None) == info.name
                and (inspect.isclass(value) or inspect.isfunction(value))
            ):
                members[name] = value
    return sorted(members.items())
