"""README.md's table of the twenty papers agrees with the registry, bench/ and docs/RESULTS.md.

Parses the markdown of the `## The papers` section (no training, no export):

1. The table has one row per paper, twenty in all, and names every registered model
   (`tfgen.registry.names()`) in its models column.
2. The signatures listed for each model equal `registry.get(name).signatures`, in order. A
   signatures cell is either one list for every registered model of its row, or one
   `` `name`: `signature`, ... `` line per model, separated by `<br>`; remarks in
   parentheses are skipped.
3. Every `--model NAME` of a command in the section is registered, every `bench/NAME.py` and
   `python -m bench.NAME` it names exists, and every `docs/RESULTS.md#anchor` it links is a
   heading of docs/RESULTS.md (GitHub's anchors: lower case, punctuation dropped, spaces as
   hyphens, `-1`, `-2` for repeats).
"""

import re
from pathlib import Path

import pytest

from tfgen import registry

ROOT = Path(__file__).absolute().parent.parent
README = ROOT / "README.md"
RESULTS = ROOT / "docs" / "RESULTS.md"
SECTION = "## The papers"
HEADER = ("paper", "arXiv", "models", "exported signatures", "results")
NUM_PAPERS = 20


def _papers_section():
    """The text of README's `## The papers` section, up to the next `## ` heading."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n{SECTION}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def _cells(line):
    """The cells of a markdown table row (`\\|` stays inside its cell)."""
    cells = re.split(r"(?<!\\)\|", line.strip().strip("|"))
    return [cell.strip() for cell in cells]


def _table():
    """The papers table: a list of {column: cell} rows."""
    lines = [line for line in _papers_section().splitlines() if line.startswith("|")]
    assert lines, f"no table in README's {SECTION!r} section"
    header = tuple(_cells(lines[0]))
    assert header == HEADER, f"papers table header: expected {HEADER}, got {header}"
    assert set(lines[1].replace("|", "").strip()) <= set("-: "), "no separator row under header"
    return [dict(zip(header, _cells(line))) for line in lines[2:]]


def _code_names(cell):
    """The `code` spans of a cell, in order."""
    return re.findall(r"`([^`]+)`", cell)


def _listed_signatures(row):
    """{model: listed signatures} for the registered models of one row.

    A remark in parentheses, "(tf-agents `PolicySaver`)", is not a signature.
    """
    models = [name for name in _code_names(row["models"]) if name in registry.names()]
    cell = re.sub(r"\([^)]*\)", "", row["exported signatures"])
    parts = [part.strip() for part in cell.split("<br>")]
    per_model = [re.match(r"`([^`]+)`:\s*(.*)", part) for part in parts]
    if all(per_model):
        return {match.group(1): tuple(_code_names(match.group(2))) for match in per_model}
    assert len(parts) == 1, f"{row['paper']}: expected `model`: lines or one list, got {cell!r}"
    return {model: tuple(_code_names(cell)) for model in models}


def _github_anchors(markdown):
    """The anchors GitHub gives the headings of `markdown`."""
    anchors, seen = set(), {}
    in_code = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if in_code or not match:
            continue
        title = re.sub(r"`|\*|\[|\]\([^)]*\)", "", match.group(1)).strip().lower()
        slug = re.sub(r"[^\w\- ]", "", title).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def test_one_row_per_paper():
    rows = _table()
    papers = [row["paper"] for row in rows]
    assert len(papers) == NUM_PAPERS, f"expected {NUM_PAPERS} papers, got {len(papers)}: {papers}"
    assert len(set(papers)) == NUM_PAPERS, f"a paper is listed twice: {papers}"
    for row in rows:
        assert re.fullmatch(r"\d{4}\.\d{5}", row["arXiv"]), f"{row['paper']}: arXiv {row['arXiv']}"


def test_every_registered_model_is_in_the_table():
    listed = {name for row in _table() for name in _code_names(row["models"])}
    missing = sorted(set(registry.names()) - listed)
    assert not missing, f"registered models missing from README's papers table: {missing}"


def test_signatures_are_the_registry_signatures():
    wrong, listed = [], set()
    for row in _table():
        for model, signatures in _listed_signatures(row).items():
            if model not in registry.names():
                wrong.append(f"{row['paper']}: `{model}` is not a registered model")
                continue
            listed.add(model)
            expected = registry.get(model).signatures
            if signatures != expected:
                wrong.append(f"{row['paper']}: `{model}` lists {signatures}, exports {expected}")
    missing = sorted(set(registry.names()) - listed)
    assert not wrong, "\n".join(wrong)
    assert not missing, f"models whose signatures the table does not list: {missing}"


def test_commands_name_registered_models_and_existing_benches():
    section = _papers_section()
    models = re.findall(r"--model[ =]([\w-]+)", section)
    assert models, "no `--model NAME` in README's papers section"
    unknown = sorted(set(models) - set(registry.names()))
    assert not unknown, f"train commands name unregistered models: {unknown}"
    benches = set(re.findall(r"bench/(\w+)\.py", section))
    benches |= set(re.findall(r"python -m bench\.(\w+)", section))
    assert benches, "no bench script named in README's papers section"
    missing = sorted(name for name in benches if not (ROOT / "bench" / f"{name}.py").is_file())
    assert not missing, f"bench scripts that do not exist: {missing}"


def test_results_links_exist():
    anchors = _github_anchors(RESULTS.read_text(encoding="utf-8"))
    links = re.findall(r"docs/RESULTS\.md#([\w-]+)", _papers_section())
    assert len(links) >= NUM_PAPERS, f"expected a RESULTS.md link per paper, got {links}"
    broken = sorted(set(links) - anchors)
    assert not broken, f"README links to RESULTS.md anchors that do not exist: {broken}"
    for row in _table():
        assert "docs/RESULTS.md#" in row["results"], f"{row['paper']}: no RESULTS.md link"


@pytest.mark.parametrize(
    "heading, anchor",
    [
        (
            "## WaveNet (arXiv 1609.03499) and fast generation",
            "wavenet-arxiv-160903499-and-fast-generation",
        ),
        ("### `bench/dni.py`: copy, repeat_copy", "benchdnipy-copy-repeat_copy"),
        ("## Results\n## Results", "results-1"),
    ],
)
def test_github_anchors(heading, anchor):
    assert anchor in _github_anchors(heading)
