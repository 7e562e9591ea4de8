"""Where a zoo lives: the embedded sample, a local folder, or (see HubSource) a Hugging Face dataset repository.

A source answers one question, `path(rel)`: the local path of one file of the zoo, fetching it first if it is
remote. The loader reads the manifest and the networks table first and asks for weight shards only when a query
needs them. The interface itself lives in rnnzoo.source, below both this module and rnnzoo.hub, so the Hub source
does not import the module that chooses it.
"""

from __future__ import annotations

import os
from pathlib import Path

from rnnzoo.source import Source  # re-exported: `from rnnzoo.sources import Source` keeps working
from rnnzoo.folder import inside
from rnnzoo.store import MANIFEST, NETWORKS_TABLE, ZooFormatError, check_relpath

SAMPLE_DIR = Path(__file__).resolve().parent / "data" / "sample"


class LocalSource(Source):
    """A zoo folder on this machine."""

    def __init__(self, root: str | os.PathLike, name: str | None = None):
        self.root = Path(root).expanduser().resolve()
        self.name = name or str(root)
        if not self.root.is_dir():
            raise FileNotFoundError(
                f"zoo folder {root} does not exist; make one with `python generation/run.py --preset tiny --out "
                f"{root}`, or pass source=None for the embedded sample or source='ORG/NAME' for a Hub dataset"
            )
        if not (self.root / MANIFEST).is_file() or not (self.root / NETWORKS_TABLE).is_file():
            raise ZooFormatError(
                f"{root} holds no finished zoo ({MANIFEST} or {NETWORKS_TABLE} is missing); if generation was "
                "interrupted, rerun the same `generation/run.py` command to resume and finish it"
            )

    def path(self, rel: str) -> Path:
        """The file `rel` of this zoo; a path leaving the folder ('..', absolute, or a symbolic link that points
        out) is a ZooFormatError."""
        return inside(self.root, self.root / check_relpath(rel, self.name))


def resolve_source(source: str | os.PathLike | Source | None = None, revision: str | None = None) -> Source:
    """A Source for `source`: None (the embedded sample), a folder, an 'ORG/NAME' Hub repo id or an hf:// path."""
    if isinstance(source, Source):
        return source
    if source is None:
        if not (SAMPLE_DIR / MANIFEST).is_file():
            raise ZooFormatError(
                f"the embedded sample zoo is missing from {SAMPLE_DIR}; reinstall rnnzoo or regenerate it with "
                "`python generation/run.py --preset sample --out rnnzoo/data/sample`"
            )
        return LocalSource(SAMPLE_DIR, name="sample")
    text = os.fspath(source)
    if Path(text).expanduser().exists():
        return LocalSource(text)
    if text.startswith("hf://") or _looks_like_repo_id(text):
        from rnnzoo.hub import HubSource, LazyHubSource

        if not text.startswith("hf://") and near_misses(text, zoos_only=True):  # a typo of a zoo folder here:
            # never ask the Hub
            raise FileNotFoundError(local_lookalike(text))
        hub = (LazyHubSource if text.startswith("hf://") else HubSource)(text, revision=revision)
        hub.local_hint = None if text.startswith("hf://") else local_lookalike(text)
        return hub
    return LocalSource(text)  # raises the clear "does not exist" error


def local_lookalike(text: str) -> str | None:
    """A sentence for an 'ORG/NAME' address that is not a local folder, shown when the Hub cannot serve it: where
    ORG is a folder here it was most likely a local path with a typo in NAME (the Hub is still asked, since a folder
    may share an organisation's name); otherwise it says that no such local folder exists either."""
    path = Path(text)
    if path.exists():
        return None
    if not path.parent.is_dir():
        return (f"{text} was read as a Hugging Face dataset id because no local folder {path.resolve()} exists "
                f"(if you meant a local zoo, check the path; write ./{text} to mean a local folder only)")
    close = near_misses(text)
    hint = f"; did you mean {', '.join(f'{path.parent.as_posix()}/{c}' for c in close)}?" if close else ""
    return (f"{text} is not a local zoo folder: {path.parent.resolve()} exists but holds no {path.name!r}{hint} "
            f"(write ./{text} to mean a local folder only)")


def near_misses(text: str, zoos_only: bool = False) -> list[str]:
    """Folders beside the missing folder `text` whose names are close to its last part (a typo's candidates);
    zoos_only: only zoo folders (holding a manifest.json), the evidence that `text` was meant as a local path and
    not as an organisation's name that happens to be a folder here."""
    import difflib

    path = Path(text)
    if path.exists() or not path.parent.is_dir():
        return []
    names = sorted(p.name for p in path.parent.iterdir()
                   if p.is_dir() and not p.name.startswith(".") and (not zoos_only or (p / MANIFEST).is_file()))
    return difflib.get_close_matches(path.name, names, n=3, cutoff=0.5)


def _looks_like_repo_id(text: str) -> bool:
    parts = text.split("/")
    return len(parts) == 2 and all(parts) and not text.startswith((".", "/", "~"))
