"""Checks the top-level Bazel `BUILD` file against the source tree, without running Bazel.

`BUILD` is Starlark, which is a Python subset: it is parsed with `ast`, checked to use only the
Starlark constructs listed in `_ALLOWED_NODES`, and evaluated with `glob`, `package` and the
native Python rules bound to recorders (no `load`, no `select`). `glob` is evaluated against the
tree here: `*` and `?` match within one path segment, a `**` segment matches zero or more
segments, `exclude` patterns are removed, directories holding their own BUILD file (other Bazel
packages) are not entered, and neither are hidden directories (`.venv`, `.git`) nor
`__pycache__`.

The rules checked, for every Python module under bench/, export/, serving/, tests/, tfgen/
and training/:

1. Ownership. Every module is in the `srcs` of exactly one py_library, py_binary or py_test
   target, its *owner*, where the `main` of a py_binary or py_test does not count. A `main`
   must be owned by a target in the binary's or test's transitive deps: `training/__main__.py`
   belongs to `:training` (so `python -m training` works for anything that depends on the
   library) and `:train` names it as `main`; `tests/pytest_main.py` belongs to
   `:test_support` and is the `main` of every py_test. Every `srcs` entry is an existing file.
2. Tests. A py_test owns exactly one test module: a `tests/**/test_*.py` file that defines a
   top-level `test*` function or `Test*` class. Every test module is owned by a py_test; a
   helper named like a test module (tests/test_case.py) must belong to a library instead.
3. Deps. For every target, each project module that its sources (owned ones and its `main`)
   import, with `import a.b`, `from a import b` or a relative import, anywhere in the file,
   is owned by the target itself or by a target in its transitive deps. Importing `a.b.c` also
   imports the packages `a` and `a.b` (their `__init__.py`). A test module also needs the
   `conftest.py` and `__init__.py` files that pytest loads from tests/ down to its directory.
   A project import that names no module in the tree is an error too.
4. Layering, on the transitive deps of the libraries: `tfgen` depends on none of training,
   export, serving; `export` on `tfgen` only; `serving` on `tfgen` at most; `training` on
   `tfgen`, `export` and `serving`. (`bench` and the tests may depend on anything.) With rule
   3 this makes the imports layered too.

Every checker raises `ValueError` listing each problem, saying what was expected and what was
found; the negative tests below feed deliberately wrong BUILD files and trees to them.

Under Bazel (`//:test_build_file`) the module reads the runfiles tree, which holds BUILD and
every module through the test's `data`.
"""

import ast
import collections
import dataclasses
import fnmatch
import functools
import os
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).absolute().parent.parent

PACKAGES = ("bench", "export", "serving", "tests", "tfgen", "training")

# Library name -> the libraries it may depend on, transitively.
LAYERING = {
    "tfgen": frozenset(),
    "export": frozenset({"tfgen"}),
    "serving": frozenset({"tfgen"}),
    "training": frozenset({"tfgen", "export", "serving"}),
}

PY_RULES = ("py_library", "py_binary", "py_test")

# The Starlark subset that BUILD may use (no def, no import, no f-strings, no lambdas).
_ALLOWED_NODES = (
    ast.Module,
    ast.Expr,
    ast.Assign,
    ast.AugAssign,
    ast.Call,
    ast.keyword,
    ast.Name,
    ast.Load,
    ast.Store,
    ast.Constant,
    ast.List,
    ast.Tuple,
    ast.Dict,
    ast.BinOp,
    ast.Add,
    ast.Mod,
    ast.Subscript,
    ast.Slice,
    ast.UnaryOp,
    ast.USub,
    ast.Not,
    ast.Attribute,
    ast.ListComp,
    ast.comprehension,
    ast.IfExp,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.In,
    ast.NotIn,
    ast.BoolOp,
    ast.And,
    ast.Or,
)
_ALLOWED_METHODS = frozenset(
    {
        "endswith",
        "format",
        "join",
        "lower",
        "lstrip",
        "replace",
        "rstrip",
        "split",
        "startswith",
        "strip",
        "upper",
    }
)


@dataclasses.dataclass(frozen=True)
class Target:
    """One rule instance of BUILD: its kind, name and the attributes the checks use."""

    kind: str
    name: str
    srcs: tuple = ()
    deps: tuple = ()
    data: tuple = ()
    main: str = None


# --- glob and the tree -------------------------------------------------------------------


def _match_segments(pattern, path):
    """Whether the path segments `path` match the glob segments `pattern` (`**` spans dirs)."""
    if not pattern:
        return not path
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_match_segments(rest, path[i:]) for i in range(len(path) + 1))
    return bool(path) and fnmatch.fnmatchcase(path[0], head) and _match_segments(rest, path[1:])


def _walk_files(root, start):
    """Files under `root/start` as root-relative paths, as Bazel's glob would see them."""
    root = Path(root)
    found = []
    for dirpath, dirnames, filenames in os.walk(root / start):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not d.startswith(".")
            and d != "__pycache__"
            and not (here / d / "BUILD").is_file()
            and not (here / d / "BUILD.bazel").is_file()
        )
        found.extend((here / f).relative_to(root).as_posix() for f in filenames)
    return found


def glob_files(root, include, exclude=()):
    """Evaluates Bazel's `glob(include, exclude)` against the tree at `root`: sorted paths."""

    def matches(pattern):
        if not isinstance(pattern, str) or not pattern or pattern.startswith("/"):
            raise ValueError(f"glob: expected a relative pattern string, got {pattern!r}")
        segments = pattern.split("/")
        for segment in segments:
            if "**" in segment and segment != "**":
                raise ValueError(f"glob: expected '**' as a whole path segment, got {pattern!r}")
        literal = []
        for segment in segments[:-1]:
            if any(c in segment for c in "*?["):
                break
            literal.append(segment)
        start = "/".join(literal)
        if not (Path(root) / start).is_dir():
            return set()
        return {f for f in _walk_files(root, start) if _match_segments(segments, f.split("/"))}

    files = set()
    for pattern in include:
        files |= matches(pattern)
    for pattern in exclude:
        files -= matches(pattern)
    return sorted(files)


def find_modules(root):
    """Every Python module under the project's top-level packages, as sorted relative paths."""
    modules = []
    for package in PACKAGES:
        if (Path(root) / package).is_dir():
            modules.extend(f for f in _walk_files(root, package) if f.endswith(".py"))
    return sorted(modules)


# --- evaluating BUILD --------------------------------------------------------------------


def _label_name(label, where):
    """The target name of a label of this package (":x", "//:x", "x"); None for external."""
    if label.startswith("@"):
        return None
    if label.startswith("//:"):
        return label[3:]
    if label.startswith(":"):
        return label[1:]
    if "/" in label or ":" in label:
        raise ValueError(
            f"{where}: expected a label of the top-level package (':name'), got {label!r}"
        )
    return label


def evaluate_build(text, root):
    """Evaluates BUILD `text` against the tree at `root`; returns {name: Target}."""
    tree = ast.parse(text, filename="BUILD")
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise ValueError(
                f"BUILD line {getattr(node, 'lineno', '?')}: expected Starlark "
                f"that this checker evaluates, got {type(node).__name__}"
            )
        if isinstance(node, ast.Attribute) and node.attr not in _ALLOWED_METHODS:
            raise ValueError(
                f"BUILD line {node.lineno}: expected a string method "
                f"({', '.join(sorted(_ALLOWED_METHODS))}), got .{node.attr}"
            )
    targets = {}

    def rule(kind):
        def record(name, srcs=(), deps=(), data=(), main=None, **_):
            where = f"{kind} {name!r}"
            if name in targets:
                raise ValueError(f"{where}: expected a unique target name, got a second one")
            for attr, values in (("srcs", srcs), ("deps", deps), ("data", data)):
                if not isinstance(values, (list, tuple)) or not all(
                    isinstance(v, str) for v in values
                ):
                    raise ValueError(
                        f"{where}: expected {attr} to be a list of strings, got {values!r}"
                    )
            if kind in PY_RULES:
                for src in srcs:
                    if src.startswith((":", "//", "@")) or not (Path(root) / src).is_file():
                        raise ValueError(
                            f"{where}: expected srcs to name existing files, got {src!r}"
                        )
                if kind != "py_library":
                    if main is None:
                        default = [s for s in srcs if s.rsplit("/", 1)[-1] == name + ".py"]
                        if len(default) != 1:
                            raise ValueError(
                                f"{where}: expected `main` or a src named "
                                f"{name}.py, got srcs {list(srcs)}"
                            )
                        main = default[0]
                    if main not in srcs:
                        raise ValueError(f"{where}: expected main {main!r} among srcs {list(srcs)}")
            dep_names = tuple(n for n in (_label_name(d, where) for d in deps) if n is not None)
            targets[name] = Target(kind, name, tuple(srcs), dep_names, tuple(data), main)

        return record

    def glob(include, exclude=(), **_):
        return glob_files(root, include, exclude)

    def not_supported(what):
        def fail(*_, **__):
            raise ValueError(
                f"BUILD: expected no {what}() (this checker evaluates BUILD "
                f"without Bazel), got a call"
            )

        return fail

    namespace = {
        "__builtins__": {
            "len": len,
            "str": str,
            "sorted": sorted,
            "True": True,
            "False": False,
            "None": None,
            "list": list,
            "dict": dict,
            "enumerate": enumerate,
            "range": range,
            "any": any,
            "all": all,
        }
    }
    namespace.update({kind: rule(kind) for kind in PY_RULES})
    namespace.update({kind: rule(kind) for kind in ("filegroup", "alias", "exports_files")})
    namespace.update(
        glob=glob,
        package=lambda **_: None,
        load=not_supported("load"),
        select=not_supported("select"),
    )
    exec(compile(tree, "BUILD", "exec"), namespace)  # noqa: S102 (checked subset above)
    return targets


# --- the checks ----------------------------------------------------------------------------


def _fail(problems, what):
    """Raises ValueError listing `problems` (if any) under the heading `what`."""
    if problems:
        raise ValueError(f"{what}: {len(problems)} problem(s):\n  " + "\n  ".join(problems))


def _py_targets(targets):
    return [t for t in targets.values() if t.kind in PY_RULES]


def owners_of(targets):
    """{module path: [names of targets whose srcs hold it, not counting mains]}."""
    owners = collections.defaultdict(list)
    for target in _py_targets(targets):
        for src in target.srcs:
            if src != target.main:
                owners[src].append(target.name)
    return owners


def closure(targets, name):
    """Names of the targets that `name` depends on, transitively (without `name` itself)."""
    seen, stack = set(), list(targets[name].deps)
    while stack:
        dep = stack.pop()
        if dep not in seen and dep in targets:
            seen.add(dep)
            stack.extend(targets[dep].deps)
    return seen


def check_deps_exist(targets):
    """Every dep names a target of BUILD, and no target depends on itself (a cycle)."""
    problems = [
        f"{t.kind} {t.name!r}: expected deps defined in BUILD, got {dep!r}"
        for t in targets.values()
        for dep in t.deps
        if dep not in targets
    ]
    problems += [
        f"{t.kind} {t.name!r}: expected no dependency cycle, got one through {sorted(t.deps)}"
        for t in targets.values()
        if t.name in closure(targets, t.name)
    ]
    _fail(problems, "deps graph")


def check_ownership(targets, modules):
    """Rule 1: every module has exactly one owner; every main is owned within the deps."""
    owners = owners_of(targets)
    problems = [
        f"{module}: expected in the srcs of exactly one target (mains not counted), "
        f"found {sorted(owners.get(module, [])) or 'none'}"
        for module in modules
        if len(owners.get(module, [])) != 1
    ]
    module_set = set(modules)
    problems += [
        f"{src}: expected a module under {', '.join(PACKAGES)}, got it in the srcs "
        f"of {sorted(names)}"
        for src, names in owners.items()
        if src not in module_set
    ]
    for target in _py_targets(targets):
        if target.main is None:
            continue
        main_owners = owners.get(target.main, [])
        if not set(main_owners) & closure(targets, target.name):
            problems.append(
                f"{target.kind} {target.name!r}: expected its main {target.main} "
                f"owned by a target in its deps, found owners {main_owners or 'none'}"
            )
    _fail(problems, "module ownership")


def _statements(body):
    """Every statement in `body`, nested ones (in functions, classes, if, try...) included."""
    for node in body:
        yield node
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            children = getattr(node, field, None)
            if isinstance(children, list):
                yield from _statements(children)


@functools.lru_cache(maxsize=None)
def _summary(text):
    """(imports, defines_tests) of Python source `text`; cached by content, as parsing is the
    slow part. imports: tuple of (level, module or None, names or None for `import m`)."""
    tree = ast.parse(text)
    imports = []
    for node in _statements(tree.body):
        if isinstance(node, ast.Import):
            imports.extend((0, alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imports.append((node.level, node.module, tuple(a.name for a in node.names)))
    defines_tests = any(
        (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"))
        or (isinstance(node, ast.ClassDef) and node.name.startswith("Test"))
        for node in tree.body
    )
    return tuple(imports), defines_tests


def summarize(path):
    """(imports, defines_tests) of the Python file at `path`; see `_summary`."""
    try:
        return _summary(Path(path).read_text())
    except SyntaxError as error:
        raise SyntaxError(f"{path}: {error}") from None


def _defines_tests(path):
    return summarize(path)[1]


def check_test_targets(targets, modules, root):
    """Rule 2: one test module per py_test, and a py_test for every test module."""
    problems, test_modules = [], set()
    for module in modules:
        if module.startswith("tests/") and module.rsplit("/", 1)[-1].startswith("test_"):
            try:
                if _defines_tests(Path(root) / module):
                    test_modules.add(module)
            except SyntaxError as error:
                problems.append(f"expected Python that parses, got {error}")
    tested = set()
    for target in _py_targets(targets):
        if target.kind != "py_test":
            continue
        own = [s for s in target.srcs if s != target.main]
        if len(own) != 1 or own[0] not in test_modules:
            problems.append(
                f"py_test {target.name!r}: expected one test module (tests/**/"
                f"test_*.py defining tests) besides its main, got {own}"
            )
        tested.update(own)
    problems += [
        f"{m}: expected a py_test that owns it, found none" for m in sorted(test_modules - tested)
    ]
    _fail(problems, "test targets")


def module_index(modules):
    """{dotted module name: path}: a/b.py -> a.b, a/b/__init__.py -> a.b."""
    index = {}
    for path in modules:
        parts = path[: -len(".py")].split("/")
        if parts[-1] == "__init__":
            parts = parts[:-1]
        index[".".join(parts)] = path
    return index


def imported_files(path, root, index):
    """Project module files that the module at `path` imports: (files, unresolved names)."""
    imports, _ = summarize(Path(root) / path)
    package = path[: -len(".py")].split("/")[:-1]
    names = set()
    for level, module, imported in imports:
        if imported is None:  # import a.b.c
            names.add((module, False))
            continue
        if level:
            base = package[: len(package) - (level - 1)]
            module = ".".join(base + ([module] if module else []))
        names.add((module, False))
        names.update((f"{module}.{name}", True) for name in imported)
    files, unresolved = set(), set()
    for name, maybe_attribute in names:
        parts = name.split(".")
        if parts[0] not in PACKAGES:
            continue
        if name not in index and not maybe_attribute:
            unresolved.add(name)
        files.update(
            index[".".join(parts[:i])]
            for i in range(1, len(parts) + 1)
            if ".".join(parts[:i]) in index
        )
    return files, unresolved


def _pytest_files(path, modules):
    """The conftest.py and __init__.py files pytest loads for the test module at `path`."""
    module_set, parts, needed = set(modules), path.split("/")[:-1], set()
    for i in range(1, len(parts) + 1):
        for name in ("conftest.py", "__init__.py"):
            candidate = "/".join(parts[:i] + [name])
            if candidate in module_set:
                needed.add(candidate)
    return needed


def check_deps(targets, modules, root):
    """Rule 3: the owners of every project module a target's sources import are in its deps."""
    owners = owners_of(targets)
    index = module_index(modules)
    problems = []
    for target in _py_targets(targets):
        reachable = closure(targets, target.name) | {target.name}
        for src in target.srcs:
            try:
                files, unresolved = imported_files(src, root, index)
            except SyntaxError as error:
                problems.append(f"expected Python that parses, got {error}")
                continue
            problems += [
                f"{src}: expected imports of modules in the tree, got {name!r}"
                for name in sorted(unresolved)
            ]
            if target.kind == "py_test" and src != target.main:
                files |= _pytest_files(src, modules)
            for needed in sorted(files - {src}):
                found = owners.get(needed, [])
                if len(found) == 1 and found[0] not in reachable:
                    problems.append(
                        f"{target.kind} {target.name!r}: {src} imports {needed}, "
                        f"expected its owner :{found[0]} in the deps, got deps "
                        f"{sorted(closure(targets, target.name))}"
                    )
    _fail(problems, "deps")


def check_layering(targets, layering=LAYERING):
    """Rule 4: each layered library depends (transitively) only on what `layering` allows."""
    problems = []
    for name, allowed in layering.items():
        if name not in targets or targets[name].kind != "py_library":
            problems.append(
                f"expected a py_library {name!r}, got "
                f"{targets[name].kind if name in targets else 'none'}"
            )
            continue
        extra = closure(targets, name) - allowed - {name}
        if extra:
            problems.append(
                f"py_library {name!r}: expected deps within {sorted(allowed)}, "
                f"got {sorted(extra)} too"
            )
    _fail(problems, "layering")


def check_build(text, root):
    """Runs every check on BUILD `text` against the tree at `root`; returns the targets."""
    targets = evaluate_build(text, root)
    modules = find_modules(root)
    failures = []
    for check in (
        lambda: check_deps_exist(targets),
        lambda: check_ownership(targets, modules),
        lambda: check_test_targets(targets, modules, root),
        lambda: check_deps(targets, modules, root),
        lambda: check_layering(targets),
    ):
        try:
            check()
        except ValueError as error:
            failures.append(str(error))
    if failures:
        raise ValueError("BUILD is wrong:\n" + "\n".join(failures))
    return targets


# --- the real BUILD ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def build_text():
    return (ROOT / "BUILD").read_text()


def test_real_build_passes_every_check(build_text):
    targets = check_build(build_text, ROOT)
    tests = [t for t in targets.values() if t.kind == "py_test"]
    assert len(tests) >= 40, f"expected one py_test per test module (40+), got {len(tests)}"
    names = [t.name for t in tests]
    assert "data_test_api" in names and "test_build_file" in names, (
        f"expected py_tests named after their modules (data_test_api, test_build_file), "
        f"got {sorted(names)}"
    )


def test_real_build_libraries_and_binaries(build_text):
    targets = evaluate_build(build_text, ROOT)
    libraries = {t.name for t in targets.values() if t.kind == "py_library"}
    expected = {"tfgen", "export", "serving", "training", "bench", "test_support"}
    assert expected <= libraries, f"expected libraries {sorted(expected)}, got {sorted(libraries)}"
    assert "training" not in closure(targets, "export"), (
        f"expected :export not to depend on :training, got deps {targets['export'].deps}"
    )
    mains = {t.name: t.main for t in targets.values() if t.kind == "py_binary"}
    assert mains == {
        "train": "training/__main__.py",
        "export_model": "export/__main__.py",
        "serve": "serving/__main__.py",
    }, f"expected the three CLIs, got {mains}"


def test_real_build_globs_cover_new_modules(build_text, tmp_path):
    """A module added to any package (or a new test directory) is covered without editing."""
    for module in find_modules(ROOT):
        (tmp_path / module).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / module).write_text((ROOT / module).read_text())
    (tmp_path / "tfgen/brand_new.py").write_text("from tfgen import registry\n")
    (tmp_path / "tests/brand_new_dir").mkdir()
    (tmp_path / "tests/brand_new_dir/__init__.py").write_text("")
    (tmp_path / "tests/brand_new_dir/test_new.py").write_text(
        "import tfgen.brand_new\n\ndef test_new():\n    pass\n"
    )
    targets = check_build(build_text, tmp_path)
    assert "brand_new_dir_test_new" in targets, (
        f"expected a py_test brand_new_dir_test_new, got {sorted(targets)}"
    )
    assert "tfgen/brand_new.py" in targets["tfgen"].srcs, (
        f"expected tfgen/brand_new.py in :tfgen, got {targets['tfgen'].srcs}"
    )


# --- glob --------------------------------------------------------------------------------


def _tree(root, files):
    """Writes `files` ({relative path: text}) under `root`."""
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(textwrap.dedent(text))


def test_glob_double_star_exclude_and_subpackages(tmp_path):
    _tree(
        tmp_path,
        {
            "a/x.py": "",
            "a/b/y.py": "",
            "a/b/c/z.py": "",
            "a/b/n.txt": "",
            "a/sub/BUILD": "",
            "a/sub/w.py": "",
            "a/.hidden/h.py": "",
            "a/__pycache__/x.py": "",
        },
    )
    assert glob_files(tmp_path, ["a/**/*.py"]) == ["a/b/c/z.py", "a/b/y.py", "a/x.py"]
    assert glob_files(tmp_path, ["a/*.py"]) == ["a/x.py"]
    assert glob_files(tmp_path, ["a/**/*.py"], exclude=["a/b/**"]) == ["a/x.py"]
    assert glob_files(tmp_path, ["**/y.py", "a/b/?.py"]) == ["a/b/y.py"]
    assert glob_files(tmp_path, ["missing/**/*.py"]) == []
    with pytest.raises(ValueError, match=r"expected '\*\*' as a whole path segment"):
        glob_files(tmp_path, ["a/b**/*.py"])


def test_evaluates_list_comprehensions_and_rejects_non_starlark(tmp_path):
    _tree(tmp_path, {"tests/test_a.py": "def test_a(): pass\n", "tests/test_b.py": ""})
    targets = evaluate_build(
        textwrap.dedent("""
        SKIP = ["tests/test_b.py"]
        [py_test(name = src[len("tests/"):-len(".py")].replace("/", "_"),
                 srcs = [src], main = src) for src in glob(["tests/**/test_*.py"], exclude = SKIP)]
        """),
        tmp_path,
    )
    assert list(targets) == ["test_a"], f"expected the one py_test test_a, got {list(targets)}"
    for text, message in (
        ("import os", "got Import"),
        ("def f(): pass", "got FunctionDef"),
        ("x = ''.__class__", "got .__class__"),
        ('load("@x//:y.bzl", "z")', "expected no load"),
        ('py_library(name = "a", srcs = ["nope.py"])', "existing files"),
        ('py_library(name = "a")\npy_library(name = "a")', "unique target"),
    ):
        with pytest.raises(ValueError, match=message):
            evaluate_build(text, tmp_path)


# --- deliberately wrong BUILD files --------------------------------------------------------

_FAKE_TREE = {
    "tfgen/__init__.py": "",
    "tfgen/core.py": "import numpy\n",
    "tfgen/layers/__init__.py": "",
    "tfgen/layers/deep.py": "from ..core import numpy\n",
    "export/__init__.py": "from tfgen import core\n",
    "export/__main__.py": "import export\n",
    "serving/__init__.py": "",
    "training/__init__.py": "from . import loop\n",
    "training/loop.py": "import export\nimport tfgen.core\n",
    "tests/__init__.py": "",
    "tests/conftest.py": "",
    "tests/pytest_main.py": "import pytest\n",
    "tests/helpers.py": "",
    "tests/test_case.py": "def run_layer_test():\n    pass\n",
    "tests/unit/__init__.py": "",
    "tests/unit/test_loop.py": "from training import loop\n\ndef test_loop():\n    pass\n",
}

_GOOD_BUILD = """
py_library(name = "tfgen", srcs = glob(["tfgen/**/*.py"]))
py_library(name = "export", srcs = glob(["export/**/*.py"]), deps = [":tfgen"])
py_library(name = "serving", srcs = glob(["serving/**/*.py"]))
py_library(name = "training", srcs = glob(["training/**/*.py"]), deps = [":export", ":tfgen"])
py_binary(name = "export_model", srcs = ["export/__main__.py"], main = "export/__main__.py",
          deps = [":export"])
TESTS = glob(["tests/**/test_*.py"], exclude = ["tests/test_case.py"])
py_library(name = "test_support", srcs = glob(["tests/**/*.py"], exclude = TESTS))
[py_test(name = src[6:-3].replace("/", "_"), srcs = [src, "tests/pytest_main.py"],
         main = "tests/pytest_main.py", deps = [":test_support", ":training"])
 for src in TESTS]
"""


@pytest.fixture
def fake_root(tmp_path):
    _tree(tmp_path, _FAKE_TREE)
    return tmp_path


def _wrong(good, old, new):
    """`good` with `old` replaced by `new`; fails if `old` is not there exactly once."""
    assert good.count(old) == 1, f"expected {old!r} once in the BUILD text, got {good.count(old)}"
    return good.replace(old, new)


def test_fake_tree_good_build_passes(fake_root):
    targets = check_build(_GOOD_BUILD, fake_root)
    assert sorted(t.name for t in targets.values() if t.kind == "py_test") == ["unit_test_loop"]


@pytest.mark.parametrize(
    "old, new, message",
    [
        # A module in no target: the glob misses a subdirectory.
        (
            'glob(["tfgen/**/*.py"])',
            'glob(["tfgen/*.py"])',
            r"tfgen/layers/deep.py: expected in the srcs of exactly one target .* found none",
        ),
        (
            'srcs = glob(["serving/**/*.py"])',
            "srcs = []",
            r"serving/__init__.py: expected in the srcs of exactly one target .* found none",
        ),
        # A module in two targets.
        (
            'srcs = glob(["serving/**/*.py"])',
            'srcs = glob(["serving/**/*.py", "tfgen/core.py"])',
            r"tfgen/core.py: expected in the srcs of exactly one target .* \['serving', 'tfgen'\]",
        ),
        # A missing dep: training imports tfgen.core and export.
        (
            'deps = [":export", ":tfgen"])',
            'deps = [":tfgen"])',
            r"training/loop.py imports export/__init__.py, expected its owner :export in the deps",
        ),
        # A test that does not reach the conftest.py owner.
        (
            'deps = [":test_support", ":training"]',
            'deps = [":training"]',
            r"tests/unit/test_loop.py imports tests/conftest.py, expected its owner :test_support",
        ),
        # A helper named like a test module made into a py_test.
        (
            'exclude = ["tests/test_case.py"]',
            "exclude = []",
            r"py_test 'test_case': expected one test module",
        ),
        # A test module that no py_test owns.
        (
            "for src in TESTS]",
            'for src in TESTS if "loop" not in src]',
            r"tests/unit/test_loop.py: expected in the srcs of exactly one target .* found none",
        ),
        # Layering: export may not depend on training.
        (
            'glob(["export/**/*.py"]), deps = [":tfgen"]',
            'glob(["export/**/*.py"]), deps = [":tfgen", ":training"]',
            r"py_library 'export': expected no dependency cycle(.|\n)*"
            r"py_library 'export': expected deps within \['tfgen'\], got \['training'\] too",
        ),
        # A binary whose main no library in its deps owns.
        (
            'main = "export/__main__.py",\n          deps = [":export"]',
            'main = "export/__main__.py",\n          deps = [":tfgen"]',
            r"py_binary 'export_model': expected its main export/__main__.py owned by a target",
        ),
        # A dep that BUILD does not define.
        (
            'deps = [":export", ":tfgen"])',
            'deps = [":export", ":tfgen", ":nope"])',
            r"expected deps defined in BUILD, got 'nope'",
        ),
    ],
)
def test_fake_tree_wrong_build_fails(fake_root, old, new, message):
    wrong = _wrong(_GOOD_BUILD, old, new)
    with pytest.raises(ValueError, match=message):
        check_build(wrong, fake_root)


def test_fake_tree_unresolved_project_import_fails(fake_root):
    (fake_root / "tfgen/core.py").write_text("import tfgen.gone\n")
    with pytest.raises(
        ValueError,
        match=r"tfgen/core.py: expected imports of modules in the "
        r"tree, got 'tfgen.gone'",
    ):
        check_build(_GOOD_BUILD, fake_root)


def test_fake_tree_unparsable_module_fails(fake_root):
    (fake_root / "tests/unit/test_loop.py").write_text("def test_loop(:\n")
    with pytest.raises(
        ValueError,
        match=r"expected Python that parses, got "
        r".*tests/unit/test_loop.py: ",
    ):
        check_build(_GOOD_BUILD, fake_root)


def test_fake_tree_layering_violation_by_import_fails(fake_root):
    """tfgen importing training needs a :tfgen -> :training dep, which layering rejects."""
    (fake_root / "tfgen/core.py").write_text("from training.loop import *\n")
    with pytest.raises(
        ValueError,
        match=r"tfgen/core.py imports training/__init__.py, "
        r"expected its owner :training in the deps",
    ):
        check_build(_GOOD_BUILD, fake_root)
    fixed = _wrong(
        _GOOD_BUILD, 'glob(["tfgen/**/*.py"])', 'glob(["tfgen/**/*.py"]), deps = [":training"]'
    )
    with pytest.raises(ValueError, match=r"py_library 'tfgen': expected deps within \[\]"):
        check_build(fixed, fake_root)


def test_real_build_with_export_on_training_fails(build_text):
    wrong = _wrong(
        build_text,
        'srcs = glob(["export/**/*.py"]),\n    imports = ["."],\n    deps = [":tfgen"],',
        'srcs = glob(["export/**/*.py"]),\n'
        '    imports = ["."],\n    deps = [":tfgen", ":training"],',
    )
    with pytest.raises(
        ValueError,
        match=r"py_library 'export': expected deps within "
        r"\['tfgen'\], got \['serving', 'training'\] too",
    ):
        check_build(wrong, ROOT)


def test_real_build_with_serving_on_training_fails(build_text):
    wrong = _wrong(
        build_text,
        'srcs = glob(["serving/**/*.py"]),\n    imports = ["."],\n',
        'srcs = glob(["serving/**/*.py"]),\n    imports = ["."],\n    deps = [":training"],\n',
    )
    with pytest.raises(
        ValueError,
        match=r"py_library 'serving': expected deps within "
        r"\['tfgen'\], got \['export', 'training'\] too",
    ):
        check_build(wrong, ROOT)


def test_real_build_without_export_deps_fails(build_text):
    wrong = _wrong(
        build_text,
        'srcs = glob(["export/**/*.py"]),\n    imports = ["."],\n    deps = [":tfgen"],',
        'srcs = glob(["export/**/*.py"]),\n    imports = ["."],',
    )
    with pytest.raises(ValueError, match=r"py_library 'export': export/.*\.py imports tfgen/"):
        check_build(wrong, ROOT)
