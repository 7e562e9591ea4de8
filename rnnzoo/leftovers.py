"""Leftovers of killed writes: how rnnzoo's writers name work in progress, and how to find and remove it.

Writes go to hidden temporary names ('.NAME.RANDOM.tmp' files and folders; '.trajectories.old.RANDOM' while the
trajectories are swapped) and are renamed into place when complete. A killed writer leaves those names behind:
they are never recorded in a manifest or a card, `verify_zoo` reports them, and the next generation run, which
holds the folder's lock, removes them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def is_temporary(name: str) -> bool:
    """True for the names rnnzoo's writers give work in progress: '.NAME.RANDOM.tmp' files and folders (atomic
    writes, the trajectories being written) and '.trajectories.old.RANDOM' (the trajectories being replaced)."""
    return name.startswith(".") and (name.endswith(".tmp") or name.startswith(".trajectories."))


def find_debris(root: str | os.PathLike) -> list[Path]:
    """Files and folders left under root by writes that were killed (see is_temporary), outermost only; other
    hidden folders (.git, .cache of a Hub download) are not entered."""
    found = []
    for folder, dirs, names in os.walk(root):
        for name in sorted(dirs + names):
            if is_temporary(name):
                found.append(Path(folder) / name)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    return sorted(found)


def remove_debris(root: str | os.PathLike) -> list[str]:
    """Delete what killed writes left under root (only while no writer is running: hold the generation lock);
    returns the relative paths removed."""
    removed = []
    for path in find_debris(root):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path.relative_to(root).as_posix())
    return removed
