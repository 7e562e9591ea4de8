"""The interface of a zoo source: a zoo's files addressed by their path relative to the zoo's root.

Every source (rnnzoo.sources.LocalSource, rnnzoo.hub.HubSource, ...) implements it; rnnzoo.sources.resolve_source
picks one for what the user passed. It sits below both, so neither imports the other to know what a source is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from rnnzoo.store import MANIFEST, read_manifest


class Source:
    """A zoo's files, addressed by their path relative to the zoo's root."""

    name: str = "?"

    def path(self, rel: str) -> Path:  # pragma: no cover - interface
        raise NotImplementedError

    def prefetch(self, rels: Iterable[str]) -> None:
        """Make the given files local in one go before they are read one by one (remote sources download)."""

    def read_rows(self, rel: str, rows: Any) -> dict | None:
        """Rows of one weight shard read remotely by byte range, or None: read the local file from path(rel)."""
        return None

    def manifest(self) -> dict:
        """The zoo's manifest.json, its format version checked."""
        return read_manifest(self.path(MANIFEST).parent)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"
