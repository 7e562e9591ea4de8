"""The dataset card as the Hub will show it: rendered for the repository by publish.py, read back with
huggingface_hub's own card classes, every table row whole, nothing left to fill, nothing outside the repository."""

from __future__ import annotations

import hashlib
import re
import shutil
import tomllib
from pathlib import Path

import pytest
from huggingface_hub import DatasetCard, DatasetCardData

import rnnzoo
from generation.card import md_table, table_problems
from generation.publish import main as publish
from rnnzoo.store import NETWORK_SCHEMA
from rnnzoo.verify import verify_zoo

REPO = Path(__file__).resolve().parent.parent
URLS = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["urls"]


def tables(text: str) -> list[list[list[str]]]:
    """Every Markdown table of `text` as rows of cells (split on unescaped `|`, the separator row dropped)."""
    found, current = [], None
    for line in text.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if current is None:
                current = []
                found.append(current)
            if not set("".join(cells)) <= set("-: "):
                current.append(cells)
        else:
            current = None
    return found


def files_of(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_publish_dry_run_renders_the_card_for_the_repository(quick_zoo, tmp_path, capsys):
    before = files_of(quick_zoo)
    stage = tmp_path / "stage"
    assert publish([str(quick_zoo), "--repo-id", "rnnzoo-org/tiny-zoo", "--dry-run", "--stage-dir", str(stage)]) == 0
    assert f"the card rendered for it: {stage / 'README.md'}" in capsys.readouterr().out
    assert files_of(quick_zoo) == before  # the zoo folder is not written

    card = DatasetCard.load(stage / "README.md")  # the Hub's own parser
    assert isinstance(card.data, DatasetCardData) and card.data.license == "cc-by-4.0"
    assert [c["config_name"] for c in card.data.configs] == ["networks", "curves", "weights", "checkpoints"]
    text = card.text
    assert "ORG/NAME" not in text and not re.search(r"\$[a-z_]+", text)
    assert "science.md" not in text and "../shared" not in text
    assert 'rnnzoo.load("rnnzoo-org/tiny-zoo", delay=' in text and 'load_dataset("rnnzoo-org/tiny-zoo")' in text
    assert f'pip install "rnnzoo @ git+{URLS["Repository"]}"' in text
    assert not re.search(r"pip install rnnzoo\b", text)  # no index serves that name
    assert f"]({URLS['Repository']})" in text and f"]({URLS['Issues']})" in text

    found = tables(text)
    assert len(found) >= 5  # layout, schema, counts, grid, phase numbers
    for table in found:
        header, rows = table[0], table[1:]
        assert rows, f"a table without rows: {header}"
        for row in rows:
            assert len(row) == len(header) and all(row), f"row {row} under {header}"
    schema = next(t for t in found if t[0] == ["column", "type", "meaning"])
    assert [r[0] for r in schema[1:]] == [f"`{f.name}`" for f in NETWORK_SCHEMA]
    slowest = next(r for r in schema if r[0] == "`slowest_speed`")
    assert slowest[2] == r"speed \|F(x) - x\| at the slowest point found"

    # The staged manifest records the staged card: a downloaded copy verifies.
    copy = shutil.copytree(quick_zoo, tmp_path / "downloaded")
    for name in ("README.md", "manifest.json"):
        shutil.copy(stage / name, copy / name)
    assert verify_zoo(copy) == []


def test_the_local_card_loads_its_own_folder_and_its_example_runs(quick_zoo, monkeypatch):
    text = DatasetCard.load(quick_zoo / "README.md").text
    assert "ORG/NAME" not in text and table_problems(text, "card") == []
    line = next(l for l in text.splitlines() if l.startswith("zoo = rnnzoo.load("))
    assert line.startswith('zoo = rnnzoo.load(".", delay=')  # no folder name: a copied or rerun zoo keeps its card
    monkeypatch.chdir(quick_zoo)  # the example loads "." : it is run inside the zoo's folder
    scope = {"rnnzoo": rnnzoo}
    exec(line.split("#")[0], scope)
    assert len(scope["zoo"]) >= 1  # the example's query matches networks


def test_tables_escape_bars_and_refuse_empty_cells():
    text = md_table(["column", "meaning"], [["`x`", "speed |F(x) - x|"]])
    assert text.splitlines()[2] == r"| `x` | speed \|F(x) - x\| |" and table_problems(text, "t") == []
    with pytest.raises(ValueError, match="empty Markdown table cell"):
        md_table(["a", "b"], [["1", ""]])
    broken = "| column | meaning |\n|---|---|\n| `x` | speed |F(x) - x| |\n| `y` |  |\n"
    problems = table_problems(broken, "card")
    assert len(problems) == 2 and "line 3" in problems[0] and "line 4" in problems[1]


def test_nothing_in_the_repository_points_outside_it():
    import subprocess

    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    texts = [p for p in tracked if p.endswith((".py", ".md", ".toml", ".cff", ".txt")) and "data/sample" not in p]
    assert len(texts) > 20
    pointing = [p for p in texts if "../shared" in (REPO / p).read_text(encoding="utf-8")
                and p != "tests/test_card.py"]
    assert pointing == []
    assert (REPO / "docs" / "science.md").is_file()


def test_rerendering_from_a_relative_path_keeps_the_phase_figures(quick_zoo, tmp_path, monkeypatch):
    from generation.card import main as render

    copy = tmp_path / "zoo"
    shutil.copytree(quick_zoo, copy)
    before = DatasetCard.load(copy / "README.md").text
    assert "figures/phase-diagram-" in before
    monkeypatch.chdir(tmp_path)
    render(["zoo"])  # `python generation/card.py zoo`, as the README tells after a card change
    assert DatasetCard.load(copy / "README.md").text == before
    assert not (copy / "figures" / "mechanisms_by_delay.png").exists()
    assert verify_zoo(copy) == []


def test_the_card_formats_the_numbers_of_the_assembly_and_analyses_nothing(quick_zoo, tmp_path, monkeypatch):
    """A re-render reads the counts the assembly stored in the manifest and its figures; drawing or analysing is
    not needed (both are made to fail here) and the card comes out byte for byte as assembled. An older zoo
    without a stored summary gets one computed once and recorded."""
    import json

    import generation.summary
    from generation.card import main as render

    copy = tmp_path / "zoo"
    shutil.copytree(quick_zoo, copy)
    before = (copy / "README.md").read_bytes()
    summary = json.loads((copy / "manifest.json").read_text())["summary"]
    n = sum(sum(row) for part in summary["counts"] for row in part["counts"])
    assert n == summary["n_networks"] == len(rnnzoo.load(copy))

    def refuse(*args, **kwargs):
        raise AssertionError("the card analysed the zoo again")

    with monkeypatch.context() as patch:
        patch.setattr(generation.summary, "summarise", refuse)
        patch.setattr("rnnzoo.figures.make_figures", refuse)
        assert render([str(copy)]) == 0
    assert (copy / "README.md").read_bytes() == before
    manifest = json.loads((copy / "manifest.json").read_text())
    del manifest["summary"]  # as an older assembly wrote it
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert render([str(copy)]) == 0
    assert json.loads((copy / "manifest.json").read_text())["summary"] == summary
    assert (copy / "README.md").read_bytes() == before and verify_zoo(copy) == []
