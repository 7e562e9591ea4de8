"""Run the published CORNN solver (schnitzer-lab/CORNN-public, `solve_corrn_admm`) from a temporary copy.

Nothing of it is vendored here: point CORNN_PUBLIC (or --cornn-public) at a checkout of
https://github.com/schnitzer-lab/CORNN-public (`git clone https://github.com/schnitzer-lab/CORNN-public`). Its
`figures/Figure 4/code/utils_admm.py` (rho = 100, the version science.md summarises) is copied into a fresh
temporary folder at run time and imported from there. That file imports scipy, joblib and torch at the top but its
`solve_corrn_admm` uses numpy only; where scipy or joblib is not installed, stand-in modules that raise if they are
ever called are put beside the copy, so the solver runs unchanged.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

SOLVER_FILE = "figures/Figure 4/code/utils_admm.py"
HOW_TO_GET = ("git clone https://github.com/schnitzer-lab/CORNN-public /tmp/CORNN-public && "
              "CORNN_PUBLIC=/tmp/CORNN-public python benchmarks/bench_refit.py")

_STANDINS = {
    "scipy/__init__.py": "",
    "scipy/linalg.py": "def solve(*a, **k):\n    raise NotImplementedError('scipy stand-in (bench_refit)')\n",
    "scipy/stats.py": "def pearsonr(*a, **k):\n    raise NotImplementedError('scipy stand-in (bench_refit)')\n",
    "joblib.py": ("def Parallel(*a, **k):\n    raise NotImplementedError('joblib stand-in (bench_refit)')\n"
                  "def delayed(*a, **k):\n    raise NotImplementedError('joblib stand-in (bench_refit)')\n"),
}


def _source_text(location: str) -> str:
    """utils_admm.py's text from a checkout folder, a bare git directory (read at HEAD) or the file itself."""
    path = Path(location)
    if path.is_file():
        return path.read_text()
    if (path / SOLVER_FILE).is_file():
        return (path / SOLVER_FILE).read_text()
    git_dir = path if (path / "HEAD").is_file() else path / ".git"
    if (git_dir / "HEAD").is_file():
        return subprocess.run(["git", "--git-dir", str(git_dir), "show", f"HEAD:{SOLVER_FILE}"], check=True,
                              capture_output=True, text=True).stdout
    raise FileNotFoundError(f"{location} holds neither {SOLVER_FILE} nor a git repository with it")


def load(location: str | None = None) -> tuple[ModuleType | None, str]:
    """(the published utils_admm module or None, a line saying where it came from or how to get it)."""
    location = location or os.environ.get("CORNN_PUBLIC")
    if not location:
        return None, f"published solver not given (set CORNN_PUBLIC or --cornn-public); to get it: {HOW_TO_GET}"
    folder = Path(tempfile.mkdtemp(prefix="cornn-public-"))
    (folder / "utils_admm.py").write_text(_source_text(location))
    standins = []
    for name, text in _STANDINS.items():
        module = name.split("/")[0].removesuffix(".py")
        if importlib.util.find_spec(module) is None:
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            standins.append(module)
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location("cornn_public_utils_admm", folder / "utils_admm.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(folder))
    note = f" (stand-ins for unused imports: {', '.join(sorted(set(standins)))})" if standins else ""
    return module, f"published solver: {location} :: {SOLVER_FILE}, run from a copy in {folder}{note}"


def cleanup(module: ModuleType | None) -> None:
    """Remove the temporary copy."""
    if module is not None and module.__file__:
        shutil.rmtree(Path(module.__file__).parent, ignore_errors=True)
