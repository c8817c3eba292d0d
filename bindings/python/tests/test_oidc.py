"""OIDC: finding the CI job's token, and exchanging it (a local issuer stands in for GitLab's)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

import depot_rs
from depot_rs import sync

from conftest import Server, start_server
from issuer import Issuer

CI_VARS = [
    "ACTIONS_ID_TOKEN_REQUEST_URL",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "GITLAB_CI",
    "DEPOT_OIDC_TOKEN",
    "CIRCLE_OIDC_TOKEN_V2",
    "BUILDKITE_AGENT_ACCESS_TOKEN",
    "BUILDKITE_JOB_ID",
]


@pytest.fixture
def no_ci(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in CI_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


async def test_detects_the_ci_token(no_ci: pytest.MonkeyPatch) -> None:
    assert await depot_rs.detect_ci_token() is None
    no_ci.setenv("CIRCLE_OIDC_TOKEN_V2", "circle.jwt.token")
    assert await depot_rs.detect_ci_token() == {"provider": "circleci", "token": "circle.jwt.token"}


def test_detects_the_ci_token_in_order(no_ci: pytest.MonkeyPatch) -> None:
    # GitLab comes before CircleCI, as in the CLI.
    no_ci.setenv("CIRCLE_OIDC_TOKEN_V2", "circle.jwt.token")
    no_ci.setenv("GITLAB_CI", "true")
    no_ci.setenv("DEPOT_OIDC_TOKEN", "gitlab.jwt.token")
    assert sync.detect_ci_token() == {"provider": "gitlab", "token": "gitlab.jwt.token"}


async def test_the_exchange_refuses_a_token_no_issuer_signed(
    api: Server, no_ci: pytest.MonkeyPatch
) -> None:
    client = await depot_rs.Client.connect()
    with pytest.raises(depot_rs.ConfigError):
        await client.exchange_ci_token()
    with pytest.raises(depot_rs.AuthError) as refused:
        await client.exchange_ci_token(token="eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln")
    assert refused.value.code == "unauthenticated"


def test_a_ci_job_exchanges_its_token_for_a_project_token(
    tmp_path: Path, no_ci: pytest.MonkeyPatch
) -> None:
    issuer = Issuer(tmp_path)
    try:
        with start_server("--oidc-issuer", f"gitlab={issuer.url}") as oidc_server:
            exchange_in_ci(oidc_server, issuer, no_ci)
    finally:
        issuer.close()


def exchange_in_ci(server: Server, issuer: Issuer, env: pytest.MonkeyPatch) -> None:
    # The project trusts GitLab project acme/app (added with the bundled CLI).
    subprocess.run(
        [depot_rs.binary_path(), "projects", "trust-policies", "add", "gitlab",
         "--namespace", "acme", "--project-path", "app", "--project", server.project_id],
        env={**os.environ, "DEPOT_API_URL": server.url, "DEPOT_TOKEN": server.token},
        check=True, capture_output=True,
    )
    now = int(time.time())
    jwt = issuer.mint({
        "iss": issuer.url, "aud": "https://depot.dev", "sub": "project_path:acme/app:ref_type:branch:ref:main",
        "namespace_path": "acme", "project_path": "acme/app", "jti": uuid.uuid4().hex,
        "iat": now, "nbf": now, "exp": now + 600,
    })
    # A GitLab job: its token is found, and the client authenticates with it like the CLI.
    env.delenv("DEPOT_TOKEN", raising=False)
    env.setenv("GITLAB_CI", "true")
    env.setenv("DEPOT_OIDC_TOKEN", jwt)
    env.setenv("HOME", str(Path(issuer.key).parent))

    async def run() -> None:
        assert await depot_rs.detect_ci_token() == {"provider": "gitlab", "token": jwt}
        client = await depot_rs.Client.connect(api_url=server.url, project=server.project_id)
        assert server.project_id in [p["id"] for p in await client.list_projects()]
        exchanged = await client.exchange_ci_token()
        assert exchanged["token"].startswith("dpp_")
        assert exchanged["project_id"] == server.project_id
        expires = exchanged["expires_at"]
        assert expires is not None and expires > datetime.now(timezone.utc)
        project_client = await depot_rs.Client.connect(token=exchanged["token"], api_url=server.url)
        token = await project_client.pull_token(project=server.project_id)
        assert token["token"].startswith("dpl_")
        # A JWT is exchanged once.
        with pytest.raises(depot_rs.DepotError) as again:
            await client.exchange_ci_token(token=jwt)
        assert again.value.code == "already_exists"

    asyncio.run(run())
