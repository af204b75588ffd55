"""Credentials, gateway URL, transport safety, and the cached inference token."""

from __future__ import annotations

import pytest
from livekit import api

from livekit_plugins_hosted.auth import (
    DEFAULT_INFERENCE_URL,
    REFRESH_MARGIN,
    STAGING_INFERENCE_URL,
    TOKEN_TTL,
    InferenceToken,
    check_secure_url,
    credentials_available,
    gateway_url,
    resolve_credentials,
)
from tests.clock import FakeClock

KEY = "APIunitTestKey"
SECRET = "unit-test-secret-that-is-long-enough-for-hs256-0123456789"

CREDENTIAL_VARS = (
    "LIVEKIT_INFERENCE_API_KEY",
    "LIVEKIT_API_KEY",
    "LIVEKIT_INFERENCE_API_SECRET",
    "LIVEKIT_API_SECRET",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No LiveKit credential or URL variables from the developer's shell."""
    for name in (*CREDENTIAL_VARS, "LIVEKIT_INFERENCE_URL", "LIVEKIT_URL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


# --- resolve_credentials ----------------------------------------------------------------------


def test_arguments_win_over_environment(clean_env: pytest.MonkeyPatch) -> None:
    """Explicit api_key/api_secret would be overridden by the environment."""
    clean_env.setenv("LIVEKIT_INFERENCE_API_KEY", "env-key")
    clean_env.setenv("LIVEKIT_INFERENCE_API_SECRET", "env-secret")
    assert resolve_credentials("arg-key", "arg-secret") == ("arg-key", "arg-secret")


def test_inference_variables_beat_generic_ones(clean_env: pytest.MonkeyPatch) -> None:
    """LIVEKIT_INFERENCE_API_KEY/SECRET would be ignored in favour of LIVEKIT_API_KEY/SECRET."""
    clean_env.setenv("LIVEKIT_INFERENCE_API_KEY", "inf-key")
    clean_env.setenv("LIVEKIT_API_KEY", "lk-key")
    clean_env.setenv("LIVEKIT_INFERENCE_API_SECRET", "inf-secret")
    clean_env.setenv("LIVEKIT_API_SECRET", "lk-secret")
    assert resolve_credentials(None, None) == ("inf-key", "inf-secret")


def test_generic_variables_as_fallback(clean_env: pytest.MonkeyPatch) -> None:
    """A project with only LIVEKIT_API_KEY/SECRET (the usual setup) could not authenticate."""
    clean_env.setenv("LIVEKIT_API_KEY", "lk-key")
    clean_env.setenv("LIVEKIT_API_SECRET", "lk-secret")
    assert resolve_credentials(None, None) == ("lk-key", "lk-secret")
    assert credentials_available()


def test_empty_variable_falls_through(clean_env: pytest.MonkeyPatch) -> None:
    """An exported-but-empty LIVEKIT_INFERENCE_API_KEY would hide a valid LIVEKIT_API_KEY."""
    clean_env.setenv("LIVEKIT_INFERENCE_API_KEY", "")
    clean_env.setenv("LIVEKIT_API_KEY", "lk-key")
    clean_env.setenv("LIVEKIT_API_SECRET", "lk-secret")
    assert resolve_credentials(None, None) == ("lk-key", "lk-secret")


def test_missing_key_names_variables(clean_env: pytest.MonkeyPatch) -> None:
    """A missing key would fail without telling the user which variables to set."""
    clean_env.setenv("LIVEKIT_API_SECRET", "lk-secret")
    with pytest.raises(ValueError) as info:
        resolve_credentials(None, None)
    msg = str(info.value)
    assert "LIVEKIT_INFERENCE_API_KEY" in msg
    assert "LIVEKIT_API_KEY" in msg
    assert "api_key" in msg
    with pytest.raises(ValueError, match="LIVEKIT_API_KEY"):  # half a pair: named
        credentials_available()


def test_missing_secret_names_variables(clean_env: pytest.MonkeyPatch) -> None:
    """A missing secret would fail without telling the user which variables to set."""
    clean_env.setenv("LIVEKIT_API_KEY", "lk-key")
    with pytest.raises(ValueError) as info:
        resolve_credentials(None, None)
    msg = str(info.value)
    assert "LIVEKIT_INFERENCE_API_SECRET" in msg
    assert "LIVEKIT_API_SECRET" in msg
    assert "lk-key" not in msg


# --- gateway_url ------------------------------------------------------------------------------


def test_gateway_url_argument_first(clean_env: pytest.MonkeyPatch) -> None:
    """An explicit base_url would be overridden by the environment."""
    clean_env.setenv("LIVEKIT_INFERENCE_URL", "https://env.example/v1")
    clean_env.setenv("LIVEKIT_URL", "wss://p.staging.livekit.cloud")
    assert gateway_url("https://arg.example/v1") == "https://arg.example/v1"


def test_gateway_url_inference_variable(clean_env: pytest.MonkeyPatch) -> None:
    """LIVEKIT_INFERENCE_URL would be ignored."""
    clean_env.setenv("LIVEKIT_INFERENCE_URL", "https://env.example/v1")
    clean_env.setenv("LIVEKIT_URL", "wss://p.staging.livekit.cloud")
    assert gateway_url() == "https://env.example/v1"


def test_gateway_url_staging(clean_env: pytest.MonkeyPatch) -> None:
    """A staging project would send its requests to the production gateway."""
    clean_env.setenv("LIVEKIT_URL", "wss://my-project.staging.livekit.cloud")
    assert gateway_url() == STAGING_INFERENCE_URL


def test_gateway_url_default(clean_env: pytest.MonkeyPatch) -> None:
    """Without configuration requests would not go to the production gateway."""
    assert gateway_url() == DEFAULT_INFERENCE_URL
    clean_env.setenv("LIVEKIT_URL", "wss://my-project.livekit.cloud")
    assert gateway_url() == DEFAULT_INFERENCE_URL


# --- check_secure_url -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://agent-gateway.livekit.cloud/v1",
        "https://example.com",
        "http://127.0.0.1:8080/v1",
        "http://localhost:8000/v1",
        "http://[::1]:8080/v1",
    ],
)
def test_secure_urls_accepted(url: str) -> None:
    """A local test server or an https gateway would be refused."""
    check_secure_url(url)


@pytest.mark.parametrize(
    "url",
    ["http://example.com/v1", "http://10.0.0.5:8000/v1", "http://localhost.evil.com/v1"],
)
def test_plain_http_to_remote_rejected(url: str) -> None:
    """LiveKit credentials would be sent in clear text over the network."""
    with pytest.raises(ValueError, match="https"):
        check_secure_url(url)


@pytest.mark.parametrize("url", ["ftp://example.com/v1", "ws://localhost:8000", "example.com"])
def test_other_schemes_rejected(url: str) -> None:
    """A non-http(s) URL would be accepted and fail later in an obscure way."""
    with pytest.raises(ValueError, match="scheme"):
        check_secure_url(url)


# --- InferenceToken ---------------------------------------------------------------------------


def test_token_signed_once(clock: FakeClock) -> None:
    """Every request would re-sign the JWT (wasted CPU on the hot path)."""
    token = InferenceToken(KEY, SECRET)
    first = token.get()
    clock.now += 10
    assert token.get() == first
    assert token.get() == first
    assert token.signed == 1


def test_token_resigned_after_refresh_point(clock: FakeClock) -> None:
    """A long session would keep sending an expired token and get 401s."""
    token = InferenceToken(KEY, SECRET)
    token.get()
    refresh_after = TOKEN_TTL - REFRESH_MARGIN
    clock.now += refresh_after - 0.001
    token.get()
    assert token.signed == 1
    clock.now += 0.001
    token.get()
    assert token.signed == 2
    clock.now += 1
    token.get()
    assert token.signed == 2  # the new token is cached again


def test_custom_ttl_and_margin(clock: FakeClock) -> None:
    """A custom ttl/refresh_margin would be ignored."""
    token = InferenceToken(KEY, SECRET, ttl=120, refresh_margin=20)
    token.get()
    clock.now += 99
    token.get()
    assert token.signed == 1
    clock.now += 1
    token.get()
    assert token.signed == 2


def test_ttl_must_exceed_margin() -> None:
    """A token that is always due for refresh would be re-signed on every request."""
    with pytest.raises(ValueError, match="ttl"):
        InferenceToken(KEY, SECRET, ttl=60, refresh_margin=60)


def test_token_verifies_with_inference_grant() -> None:
    """The gateway would reject the token (bad signature, missing grant or identity)."""
    jwt = InferenceToken(KEY, SECRET).get()
    claims = api.TokenVerifier(KEY, SECRET).verify(jwt)
    assert claims.identity == "agent"
    assert claims.inference is not None
    assert claims.inference.perform is True


def test_token_rejected_with_wrong_secret() -> None:
    """The test above would pass even if the token were not signed with the secret."""
    jwt = InferenceToken(KEY, SECRET).get()
    with pytest.raises(Exception):  # noqa: B017 - the verifier's error type is not public API
        api.TokenVerifier(KEY, SECRET + "-other").verify(jwt)


def test_repr_hides_secret_and_token() -> None:
    """Logging the plugin would leak the API secret or a usable token."""
    token = InferenceToken(KEY, SECRET)
    jwt = token.get()
    text = repr(token)
    assert SECRET not in text
    assert jwt not in text
    assert KEY in text
    assert token.api_key == KEY


@pytest.mark.parametrize("variable", ["LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"])
def test_unusable_credential_is_not_taken_for_none(
    clean_env: pytest.MonkeyPatch, variable: str
) -> None:
    """A key or secret that is set but unusable (a non-ASCII character pasted in) would be
    reported as 'no credentials', and the examples would fall back to another LLM: the error
    names the variable instead, and never shows the value."""
    clean_env.setenv("LIVEKIT_API_KEY", "lk-key")
    clean_env.setenv("LIVEKIT_API_SECRET", "lk-secret")
    clean_env.setenv(variable, "lk-s\u00e9cret-value")
    with pytest.raises(ValueError, match=variable) as info:
        credentials_available()
    assert "s\u00e9cret" not in str(info.value)


@pytest.mark.parametrize(
    "env",
    [{"LIVEKIT_API_KEY": "lk-key"}, {"LIVEKIT_API_KEY": "lk-key", "LIVEKIT_API_SECRET": ""}],
)
def test_half_a_credential_pair_is_not_taken_for_none(
    clean_env: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    """A key set with its secret unset or misspelt was 'no credentials', and the examples fell
    back to another LLM: the missing half is named."""
    for name, value in env.items():
        clean_env.setenv(name, value)
    with pytest.raises(ValueError, match="LIVEKIT_API_SECRET"):
        credentials_available()
