"""The ``depot`` console command: runs the depot CLI bundled in this package."""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["binary_path", "main"]


def binary_path() -> str:
    """The path of the bundled ``depot`` CLI (built from the same depot-rs sources)."""
    return str(Path(__file__).with_name("_bin") / "depot")


def main() -> None:
    """Replaces this process with the bundled CLI, passing the arguments on."""
    path = binary_path()
    os.execv(path, [path, *sys.argv[1:]])
