"""The README's runnable example (examples/python/build_and_pull.py) against the server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import Server, make_context

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "python" / "build_and_pull.py"
IMAGE = EXAMPLE.parents[1] / "image"


def test_the_example_builds_saves_and_pulls(api: Server, tmp_path: Path) -> None:
    contexts = make_context(tmp_path, "")
    layout = tmp_path / "layout"
    out = subprocess.run(
        [sys.executable, str(EXAMPLE), str(IMAGE), "--rootfs", contexts["rootfs"],
         "--oci-layout", str(layout)],
        capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr + out.stdout
    assert "RUN mkdir -p /out" in out.stdout  # the steps are shown as they start
    digest = next(line.split()[1] for line in out.stdout.splitlines() if line.startswith("digest "))
    index = json.loads((layout / "index.json").read_text())
    assert [m["digest"] for m in index["manifests"]] == [digest]
