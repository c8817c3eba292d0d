"""Pushes an artifact that refers to an existing image (its subject) with oras-py, pulls it
back, and prints what happened as JSON. Used by tests/registry_clients.rs.

usage: oras_artifact.py <host:port> <repository> <token> <subject-digest> <subject-size> <workdir>
"""

import json
import os
import sys

import oras.client
import oras.oci


def main() -> None:
    host, repository, token, subject_digest, subject_size, workdir = sys.argv[1:7]
    client = oras.client.OrasClient(hostname=host, insecure=True)
    client.auth.set_basic_auth("x-token", token)
    os.chdir(workdir)
    with open("sbom.json", "w", encoding="utf-8") as f:
        json.dump({"packages": ["depot-rs"]}, f)
    target = f"{host}/{repository}:sbom"
    subject = oras.oci.Subject(
        mediaType="application/vnd.oci.image.manifest.v1+json",
        digest=subject_digest,
        size=int(subject_size),
    )
    pushed = client.push(
        target=target,
        files=["sbom.json:application/vnd.example.sbom+json"],
        subject=subject,
        manifest_annotations={"org.example.kind": "sbom"},
        quiet=True,
    )
    pushed.raise_for_status()
    pulled = client.pull(target=target, outdir=os.path.join(workdir, "pulled"))
    with open(pulled[0], encoding="utf-8") as f:
        content = json.load(f)
    print(
        json.dumps(
            {
                "status": pushed.status_code,
                "digest": pushed.headers.get("Docker-Content-Digest"),
                "subject_header": pushed.headers.get("OCI-Subject"),
                "pulled": [os.path.basename(p) for p in pulled],
                "content": content,
            }
        )
    )


if __name__ == "__main__":
    main()
