"""Every Python example of the README runs as printed, on the embedded sample (no network, no generated zoo)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_has_examples():
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(BLOCKS[index], f"README.md python block {index}", "exec"), {"__name__": "__readme__"})


def card_blocks(card: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", card.read_text(), flags=re.S)


def test_card_examples_run(quick_zoo, tmp_path, monkeypatch):
    """The loading examples of a generated zoo's card (run inside its folder, as the card says) and of the
    embedded sample's card run as printed, `datasets` included (offline: local files only)."""
    from rnnzoo.sources import SAMPLE_DIR

    for card, where in ((quick_zoo / "README.md", quick_zoo), (SAMPLE_DIR / "README.md", tmp_path)):
        blocks = card_blocks(card)
        assert blocks, card
        monkeypatch.chdir(where)
        namespace = {"__name__": "__card__"}
        for k, block in enumerate(blocks):
            exec(compile(block, f"{card} python block {k}", "exec"), namespace)
        assert len(namespace["weights"]["train"]) and len(namespace["networks"]["train"])
