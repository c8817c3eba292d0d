"""A local OIDC issuer standing in for GitLab's: an RSA key made with openssl, its discovery
document and JWKS served on a loopback port, and RS256 tokens signed with openssl."""

from __future__ import annotations

import base64
import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Issuer:
    """Serves `/.well-known/openid-configuration` and `/jwks`; `mint(claims)` signs a JWT."""

    KID = "python-test-key"

    def __init__(self, directory: Path) -> None:
        self.key = directory / "issuer-key.pem"
        subprocess.run(
            ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
             "-out", str(self.key)],
            check=True, capture_output=True,
        )
        modulus = subprocess.run(
            ["openssl", "rsa", "-in", str(self.key), "-noout", "-modulus"],
            check=True, capture_output=True, text=True,
        ).stdout.strip().split("=", 1)[1]
        jwks = {"keys": [{
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.KID,
            "n": b64url(bytes.fromhex(modulus)), "e": b64url((65537).to_bytes(3, "big")),
        }]}
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler(jwks))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def _handler(self, jwks: Dict[str, Any]) -> type:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/jwks"}
                elif self.path == "/jwks":
                    body = jwks
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def mint(self, claims: Dict[str, Any]) -> str:
        header = {"alg": "RS256", "typ": "JWT", "kid": self.KID}
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        signature = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", str(self.key)],
            input=signing_input.encode(), check=True, capture_output=True,
        ).stdout
        return f"{signing_input}.{b64url(signature)}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
