"""The `rnnzoo` command line (placeholder until the CLI issue lands)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("rnnzoo: see `rnnzoo --help`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
