"""OIDC: finding the CI job's token, and the exchange endpoint refusing what it must."""

from __future__ import annotations

import pytest

import depot_rs
from depot_rs import sync

from conftest import Server

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
