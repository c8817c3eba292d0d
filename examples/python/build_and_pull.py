"""Build an image on a depot-rs (or Depot) builder, follow its steps, save it, and pull it back
into an OCI image layout — with the depot-rs Python package (`pip install depot-rs`).

    export DEPOT_API_URL=http://127.0.0.1:8080 DEPOT_TOKEN=... DEPOT_PROJECT_ID=...
    python examples/python/build_and_pull.py examples/image --rootfs /path/to/rootfs --oci-layout ./image

`--rootfs` is the root file system examples/image starts from (any directory with a POSIX
shell; scripts/demo.sh makes a busybox one).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Optional

import depot_rs


async def main(context: str, rootfs: str, oci_layout: Optional[str]) -> int:
    client = await depot_rs.Client.connect()
    build = await client.build(context, build_contexts={"rootfs": rootfs}, save=True)
    print(f"build {build.build_id} in project {build.project_id}")
    async for event in build:
        if event["type"] == "vertex_started":
            print(f"=> {event['name']}")
        elif event["type"] == "log":
            print(f"   {event['text']}", end="" if event["text"].endswith("\n") else "\n")
    try:
        result = await build.result()
    except depot_rs.BuildFailed as failed:
        print(f"build failed in {failed.step}:", *failed.logs, sep="\n", file=sys.stderr)
        return 1
    print(f"saved as {', '.join(result['saved_tags'])}")
    print(f"digest {result['image_digest']}")
    if oci_layout:
        pulled = await client.pull(build.build_id, oci_layout=oci_layout)
        print(f"pulled {pulled['reference']}@{pulled['digest']} into {oci_layout}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("context")
    parser.add_argument("--rootfs", required=True)
    parser.add_argument("--oci-layout")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.context, args.rootfs, args.oci_layout)))
