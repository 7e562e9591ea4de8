"""A zoo folder's two guards: the one lock every writer takes, and no symbolic link that leads out of the folder.

Writers (generation, assembly, the card, figures, publishing) hold `FolderLock` on the zoo folder, so none of
them can change a folder another is in the middle of. A link inside a zoo that points outside it would let a
reader serve, a verifier bless, or a writer overwrite files that are not the zoo's; such links are named errors.
"""

from __future__ import annotations

import os
from pathlib import Path

from rnnzoo.store import ZooFormatError


class FolderInUse(RuntimeError):
    """Another writer holds the zoo folder's lock."""


class LinkOutOfFolder(ZooFormatError):
    """A symbolic link inside a zoo folder points outside it."""


def links_out(root: str | os.PathLike) -> list[tuple[Path, Path]]:
    """(link, target) of every symbolic link under `root` whose target resolves outside `root` (links are not
    followed into folders, so a linked folder is reported once, as the link)."""
    root = Path(root)
    base = root.resolve()
    found = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in dirs + files:
            path = Path(folder) / name
            if path.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(base):
                    found.append((path, target))
    return sorted(found)


def link_out_error(root: str | os.PathLike, links: list[tuple[Path, Path]], what: str = "the zoo folder"
                   ) -> LinkOutOfFolder:
    link, target = links[0]
    more = f" (and {len(links) - 1} more)" if len(links) > 1 else ""
    return LinkOutOfFolder(f"{link} is a symbolic link to {target}, outside {what} {root}{more}: rnnzoo "
                           f"never reads or writes through a link that leaves it. Replace the link with the "
                           "file or folder itself (e.g. `cp -r --remove-destination`), or remove it")


def inside(root: str | os.PathLike, path: str | os.PathLike, what: str = "the zoo folder") -> Path:
    """`path` if it resolves (links followed) inside `root` (`what`, for the message), else a LinkOutOfFolder
    naming the link."""
    path = Path(path)
    base = Path(root).resolve()
    if path.resolve().is_relative_to(base):
        return path
    link = next((p for p in [path, *path.parents] if p.is_symlink()), path)
    raise link_out_error(root, [(link, link.resolve())], what)


class FolderLock:
    """An advisory lock (flock) on the zoo folder itself, held by each writer while it writes: a second writer on
    the same folder stops at once with a clear message. Slices of one generation run (--job-index/--num-jobs)
    share it and take it alone only to assemble. No file is created, and the kernel releases it when the process
    dies, so a killed writer never leaves a stale lock. Taking it also refuses a folder holding links that leave it.
    """

    def __init__(self, root: str | os.PathLike, shared: bool = False, create: bool = True,
                 slice_name: str | None = None):
        self.root, self.shared, self.create, self.fd = Path(root), shared, create, -1
        self.slice_name, self.slice_fd = slice_name, -1  # a slice of a run: held alone, so no two run the same slice

    def __enter__(self) -> "FolderLock":
        import fcntl

        if self.root.is_symlink():
            raise LinkOutOfFolder(f"{self.root} is a symbolic link (to {self.root.resolve()}); give the folder's "
                                  "own path, so that every write stays where it is named")
        if self.root.exists() and not self.root.is_dir():
            raise NotADirectoryError(f"{self.root} is a file, not a zoo folder; name a folder (it is created if "
                                     "missing)")
        if self.create:
            self.root.mkdir(parents=True, exist_ok=True)
        elif not self.root.is_dir():
            raise FileNotFoundError(f"zoo folder {self.root} does not exist")
        self.fd = os.open(self.root, os.O_RDONLY)
        try:
            fcntl.flock(self.fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise FolderInUse(f"{self.root} is in use by another rnnzoo writer (a generation/run.py, card, figures or "
                              "publish run holds the folder's lock): wait for it to finish, or stop it, or choose "
                              "another folder. Slices of one generation run (--job-index i --num-jobs n) may share "
                              "a folder with each other, not with a full run") from None
        links = links_out(self.root)
        if links:
            self.__exit__()
            raise link_out_error(self.root, links)
        if self.slice_name is not None:
            self._lock_slice(fcntl)
        return self

    def _lock_slice(self, fcntl) -> None:
        """Hold the slice's own hidden lock file alone (never listed in a manifest; removed at assembly)."""
        path = self.root / f".slice-{self.slice_name}.lock"
        self.slice_fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.slice_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.__exit__()
            raise FolderInUse(f"slice {self.slice_name} of {self.root} is already being generated by another "
                              "process: each --job-index runs once at a time; wait for it, or stop it") from None

    def exclusive(self) -> None:
        """Wait until this process alone holds the folder (slices: until the others are done with it)."""
        import fcntl

        if self.shared:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
            self.shared = False
            remove_slice_locks(self.root)  # every other slice is done: their lock files go before the assembly

    def __exit__(self, *exc: object) -> None:
        for name in ("slice_fd", "fd"):
            if getattr(self, name) >= 0:
                os.close(getattr(self, name))
                setattr(self, name, -1)


def remove_slice_locks(root: str | os.PathLike) -> None:
    """Delete the slices' lock files (call only while holding the folder alone, i.e. when assembling)."""
    for path in Path(root).glob(".slice-*.lock"):
        path.unlink(missing_ok=True)
