"""A zoo published as a Hugging Face dataset repository: metadata first, then only the weight shards asked for.

'ORG/NAME' (HubSource) downloads the needed shards whole into the cache; an 'hf://datasets/ORG/NAME' path
(LazyHubSource) reads just the byte ranges of the asked networks through HfFileSystem when online.

Files go through huggingface_hub's standard cache (HF_HUB_CACHE, ~/.cache/huggingface/hub), so a second load of
the same networks reads nothing from the network, and HF_HUB_OFFLINE=1 works from what is cached. The revision
is pinned to one commit when the metadata is fetched, so weights always come from the same commit as the table;
a file of a pinned commit already in the cache is read without asking the Hub, and a source that once finds the
Hub unreachable reads from the cache only, as if HF_HUB_OFFLINE were set, instead of waiting on retries per file.
"""

from __future__ import annotations

import os
import posixpath
import re
import socket
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import quote, urlparse

import numpy as np

from concurrent.futures import ThreadPoolExecutor

from huggingface_hub import constants, hf_hub_download, try_to_load_from_cache
from huggingface_hub.errors import (
    EntryNotFoundError,
    HFValidationError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from rnnzoo.folder import inside
from rnnzoo.source import Source
from rnnzoo.store import ZooFormatError, check_relpath, shard_layout

_HF_URL = re.compile(r"^hf://datasets/(?P<repo>[^/@]+/[^/@]+)(?:@(?P<rev>[^/]+))?(?:/(?P<sub>.*))?$")


class HubFileUnavailable(FileNotFoundError):
    """A file of a Hub zoo is neither in the local cache nor reachable (offline, no network, or not in the repo)."""


def hub_offline() -> bool:
    """True when HF_HUB_OFFLINE is set now (read at call time, so tests and users can toggle it)."""
    value = os.environ.get("HF_HUB_OFFLINE")
    if value is None:
        return bool(constants.HF_HUB_OFFLINE)
    return value.strip().upper() in {"1", "ON", "YES", "TRUE"}


def hub_cache_dir() -> str:
    """The huggingface_hub cache folder in effect now (HF_HUB_CACHE, else HF_HOME/hub, else the default)."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return os.path.join(os.environ["HF_HOME"], "hub")
    return constants.HF_HUB_CACHE


def parse_hub_address(address: str, revision: str | None = None) -> tuple[str, str | None, str]:
    """(repo_id, revision, subfolder) of 'ORG/NAME' or 'hf://datasets/ORG/NAME[@REV][/SUBFOLDER]'."""
    if address.startswith("hf://"):
        match = _HF_URL.match(address.rstrip("/"))
        if not match:
            raise ValueError(f"{address!r} is not a Hub dataset path; write it as hf://datasets/ORG/NAME[@REVISION]")
        if match["rev"] and revision and match["rev"] != revision:
            raise ValueError(f"{address!r} names revision {match['rev']!r} but revision={revision!r} was also given")
        return match["repo"], revision or match["rev"], match["sub"] or ""
    return address, revision, ""


class HubSource(Source):
    """A zoo in the Hugging Face dataset repo `ORG/NAME` (or an hf:// path), fetched file by file into the cache."""

    def __init__(self, address: str, revision: str | None = None, cache_dir: str | os.PathLike | None = None):
        self.repo_id, self.revision, self.subfolder = parse_hub_address(address, revision)
        self._cache_dir = cache_dir
        self.commit: str | None = None  # pinned at the first fetch
        self.local_hint: str | None = None  # set by resolve_source when the address could be a mistyped local path
        self.unreachable = False  # set when a call finds no network: from then on, the cache only
        self._probed = False
        self.name = self.repo_id + (f"@{self.revision}" if self.revision else "")

    @property
    def cache_dir(self) -> str:
        return os.fspath(self._cache_dir) if self._cache_dir else hub_cache_dir()

    def _filename(self, rel: str) -> str:
        check_relpath(rel, self.name)
        return posixpath.join(self.subfolder, rel) if self.subfolder else rel

    @property
    def cache_only(self) -> bool:
        """Read from the cache without asking the Hub: HF_HUB_OFFLINE is set, or the Hub was found unreachable."""
        return self.unreachable or hub_offline()

    def _cached(self, filename: str) -> Path | None:
        """The cached copy of a file of the pinned commit (a commit's files never change), or None."""
        if self.commit is None:
            return None
        found = try_to_load_from_cache(self.repo_id, filename, cache_dir=self.cache_dir, revision=self.commit,
                                       repo_type="dataset")
        return Path(found) if isinstance(found, str) else None

    def path(self, rel: str) -> Path:
        """The cached copy of one file of the zoo, downloaded first unless cached, offline or unreachable."""
        filename = self._filename(rel)
        local = self._cached(filename)
        if local is not None:
            return inside(self.cache_dir, local, "the Hugging Face cache")  # its links point at its blobs
        if not self.cache_only and not self._probed:  # one quick look before huggingface_hub's retries (~25 s)
            self._probed = True
            self.unreachable = not hub_reachable()
        offline = self.cache_only
        try:
            local = Path(self._download(filename, offline))
        except Exception as exc:
            if offline or not is_unreachable(exc):
                self._reraise(exc, [filename], offline)  # mapped to one clear message per cause, the original chained
            self.unreachable = True
            try:
                local = Path(self._download(filename, True))
            except Exception as again:
                self._reraise(again, [filename], True)
        self._pin(local, filename)
        return inside(self.cache_dir, local, "the Hugging Face cache")

    def _download(self, filename: str, offline: bool) -> str:
        return hf_hub_download(self.repo_id, filename, repo_type="dataset", revision=self.commit or self.revision,
                               cache_dir=self.cache_dir, local_files_only=offline)

    def prefetch(self, rels: Iterable[str]) -> None:
        """Download the given files not yet cached, in parallel; a no-op offline or unreachable. Failures are left
        to path(), which reads each file from the cache or names the one that is missing."""
        missing = sorted(f for f in {self._filename(r) for r in rels} if self._cached(f) is None)
        if not missing or self.cache_only:
            return

        def fetch(filename: str) -> None:
            try:
                self._download(filename, False)
            except Exception as exc:
                if is_unreachable(exc):
                    self.unreachable = True

        with ThreadPoolExecutor(min(8, len(missing))) as pool:
            list(pool.map(fetch, missing))

    def _pin(self, local: Path, filename: str) -> None:
        """Pin the commit the first file came from: the cache keeps it at .../snapshots/<commit>/<filename>, so
        the commit is the folder above the filename's own folders (never an earlier 'snapshots' of the cache path)."""
        if self.commit is None:
            parts = local.parts[: len(local.parts) - len(filename.split("/"))]
            if len(parts) >= 2 and parts[-2] == "snapshots":
                self.commit = parts[-1]

    def _reraise(self, exc: Exception, filenames: list[str], offline: bool) -> None:
        explained = self._explain(exc, filenames, offline)
        if explained is exc:
            raise exc
        raise explained from exc

    def _explain(self, exc: Exception, filenames: list[str], offline: bool) -> Exception:
        explained = self._explain_hub(exc, filenames, offline)
        if self.local_hint and explained is not exc and not isinstance(exc, (RevisionNotFoundError, HFValidationError)):
            return HubFileUnavailable(f"{self.local_hint}\nAs a Hugging Face dataset: {explained}")
        return explained

    def _explain_hub(self, exc: Exception, filenames: list[str], offline: bool) -> Exception:
        what = filenames[0] if len(filenames) == 1 else f"{len(filenames)} files ({filenames[0]}, ...)"
        where = f"dataset {self.repo_id} (revision {self.commit or self.revision or 'main'})"
        if isinstance(exc, LocalEntryNotFoundError):
            why = "HF_HUB_OFFLINE is set" if hub_offline() else "the Hub cannot be reached"
            return HubFileUnavailable(
                f"{why} and the Hugging Face cache at {self.cache_dir} lacks {what} of {where}. Fetch it once "
                f"while online (e.g. `rnnzoo info --source {self.repo_id}` for the metadata, then load the same "
                "query), or point HF_HUB_CACHE at a cache that holds it"
            )
        if isinstance(exc, RevisionNotFoundError):
            return HubFileUnavailable(f"revision {self.revision!r} does not exist in {where}; "
                                      "pass revision=None for the latest or a commit hash from the repo's history")
        if isinstance(exc, RepositoryNotFoundError):
            return HubFileUnavailable(f"no Hugging Face dataset {self.repo_id!r} (or it is private: log in with "
                                      "`hf auth login`); check the spelling ORG/NAME")
        if isinstance(exc, EntryNotFoundError):
            return HubFileUnavailable(f"{what} is not in {where}: it is not an rnnzoo zoo, or the upload was "
                                      "incomplete")
        if isinstance(exc, HFValidationError):
            return ValueError(f"{self.repo_id!r} is not a valid Hugging Face repo id ({exc}); write it as ORG/NAME")
        return exc

    def __repr__(self) -> str:
        return f"HubSource({self.name!r}, commit={self.commit!r})"


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the Hub's endpoint opens (name resolved, port answering) within `timeout` s."""
    url = urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=timeout).close()
    except (OSError, ValueError):
        return False
    return True


def is_unreachable(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) says the Hub could not be reached: no network, DNS failure, refused
    connection, timeout (httpx, requests and socket errors alike)."""
    names = {"TransportError", "ConnectError", "ConnectionError", "TimeoutException", "ConnectTimeout",
             "OfflineModeIsEnabled"}
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (ConnectionError, TimeoutError)) or names & {c.__name__ for c in type(exc).__mro__}:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def read_rows_ranged(fh: Any, size: int, where: str, rows: np.ndarray) -> dict[str, np.ndarray]:
    """The asked rows of every weight tensor of a safetensors shard read through an open binary file (seek/read):
    the header, then one byte range per run of consecutive rows per tensor; rows come back in the order asked."""
    layout = shard_layout(fh, size, where)
    rows = np.asarray(rows, dtype=np.int64)
    order = np.argsort(rows, kind="stable")
    ordered = rows[order]
    breaks = np.flatnonzero(np.diff(ordered) != 1) + 1
    runs = list(zip(np.r_[0, breaks], np.r_[breaks, ordered.size]))
    inverse = np.argsort(order, kind="stable")
    out = {}
    for name, (dtype, shape, begin) in layout.items():
        if ordered.size and (ordered[0] < 0 or ordered[-1] >= shape[0]):
            raise ZooFormatError(f"the networks table points at row {int(ordered[-1])} of {where}, which holds "
                                 f"{shape[0]} networks: the table and the shard disagree; re-download the zoo")
        row_bytes = int(np.prod(shape[1:])) * dtype.itemsize
        chunks = []
        for a, b in runs:
            count = int(ordered[b - 1] - ordered[a] + 1)
            fh.seek(begin + int(ordered[a]) * row_bytes)
            data = fh.read(count * row_bytes)
            if len(data) != count * row_bytes:
                raise ZooFormatError(f"{where} ended early while reading {name}; it is truncated: re-download it")
            chunks.append(np.frombuffer(data, dtype=dtype).reshape(count, *shape[1:]))
        out[name] = np.concatenate(chunks)[inverse] if chunks else np.empty((0, *shape[1:]), dtype)
    return out


class LazyHubSource(HubSource):
    """An hf://datasets/ORG/NAME zoo: metadata through the cache, weights as byte ranges through HfFileSystem.

    Ranged reads fetch only the asked networks' bytes (a shard's sha256 cannot be checked without all of it, so
    the header is validated instead; `rnnzoo verify` or an 'ORG/NAME' source checks whole files). Offline
    (HF_HUB_OFFLINE=1) it behaves like HubSource and reads whole shards from the cache.
    """

    def __init__(self, address: str, revision: str | None = None, cache_dir: str | os.PathLike | None = None,
                 filesystem: Any = None, root: str | os.PathLike | None = None):
        super().__init__(address, revision, cache_dir)
        self._filesystem, self._root = filesystem, root

    @property
    def lazy(self) -> bool:
        return (self._filesystem is not None and not self.unreachable) or not self.cache_only

    @property
    def filesystem(self) -> Any:
        if self._filesystem is None:
            from huggingface_hub import HfFileSystem

            self._filesystem = HfFileSystem()
        return self._filesystem

    def remote_path(self, rel: str) -> str:
        if self._root is not None:
            return posixpath.join(os.fspath(self._root), rel)
        revision = quote(self.commit or self.revision or "main", safe="")
        return posixpath.join(f"datasets/{self.repo_id}@{revision}", self._filename(rel))

    def prefetch(self, rels: Iterable[str]) -> None:
        if not self.lazy:
            return super().prefetch(rels)
        super().prefetch([r for r in rels if not r.endswith(".safetensors")])  # weights are read by range

    def read_rows(self, rel: str, rows: np.ndarray) -> dict[str, np.ndarray] | None:
        """The asked rows of one weight shard by ranged reads, or None (offline: read the cached file instead)."""
        if not self.lazy:
            return None
        where = f"{self.name}/{rel}"
        if self._cached(self._filename(rel)) is not None and self._filesystem is None:
            return None  # the whole shard is cached: read it here, checked against its sha256
        try:
            with self.filesystem.open(self.remote_path(rel), "rb") as fh:
                return read_rows_ranged(fh, int(fh.size), where, rows)
        except FileNotFoundError as exc:
            raise HubFileUnavailable(f"{rel} is not in dataset {self.repo_id} (revision "
                                     f"{self.commit or self.revision or 'main'}): {exc}") from exc
        except Exception as exc:
            if not is_unreachable(exc):
                raise
            self.unreachable = True  # no network: the cached shard, or a named error saying what to download
            return None
