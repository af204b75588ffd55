"""Bad input is refused when given, with a ValueError naming the field, before anything is sent.

Issue 16, items 8-10: values in ``extra_body``/``web_search_options`` that have no JSON form;
rules that hold on every backend checked while the backend is still to be detected; control
characters in the model id, the provider, the keys and the URLs.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from livekit.agents import APIConnectOptions

import livekit_plugins_hosted as hosted
from livekit_plugins_hosted.params import validate
from tests.gateway import API_KEY, API_SECRET, Gateway, user_ctx

ONE_TRY = APIConnectOptions(max_retry=0, timeout=5)
# a documentation address (RFC 5737): nothing is ever sent to it
REMOTE = "http://192.0.2.10:8000/v1"


def _self_hosted(**kw: Any) -> hosted.LLM:
    kw.setdefault("base_url", REMOTE)
    return hosted.LLM.self_hosted("google/gemma-4-31b-it", **kw)


# --- 8: extra_body and web_search_options hold JSON only ---------------------------------------


def _nested(depth: int) -> list[Any]:
    top: list[Any] = []
    cur = top
    for _ in range(depth):
        cur.append([])
        cur = cur[0]
    return top


def _itself() -> dict[str, Any]:
    loop: dict[str, Any] = {}
    loop["me"] = loop
    return loop


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ({"a": [1, {"b": math.nan}]}, "extra_body['a'][1]['b']=nan is not JSON"),
        ({"a": math.inf}, "extra_body['a']=inf is not JSON"),
        ({"a": -math.inf}, "extra_body['a']=-inf is not JSON"),
        ({"ids": {1, 2}}, "extra_body['ids'] is a set"),
        ({"raw": b"x"}, "extra_body['raw'] is a bytes"),
        ({"when": object()}, "extra_body['when'] is a object"),
        ({"a": {1: "x"}}, "extra_body['a'] has the key 1"),
        ({"s": "\ud800"}, "extra_body['s'] is a string with a lone surrogate"),
        ({"loop": _itself()}, "contains itself"),
        ({"deep": _nested(200)}, "nested deeper than"),
    ],
)
def test_extra_body_refuses_what_json_cannot_carry(value: dict[str, Any], words: str) -> None:
    """NaN went on the wire as the non-JSON word ``NaN``; a set or bytes failed inside the
    stream as a bug. Now each is a ValueError naming the field and the path, when given."""
    with pytest.raises(ValueError) as info:
        validate({"extra_body": value})
    assert words in str(info.value)
    assert "JSON" in str(info.value) or "deeper" in str(info.value)


def test_web_search_options_refuses_nan_and_sets() -> None:
    """web_search_options is free-form too: NaN and sets are refused with their path."""
    with pytest.raises(ValueError, match=r"web_search_options\['radius'\]=nan"):
        validate({"web_search_options": {"radius": math.nan}})
    with pytest.raises(ValueError, match=r"web_search_options\['tags'\] is a set"):
        validate({"web_search_options": {"tags": {"a"}}})


def test_json_values_still_pass() -> None:
    """Every JSON value (tuples as arrays, big ints, unicode) is still accepted."""
    body = {"a": [1, 2.5, None, True, "é", (1, 2)], "b": {"c": 10**30}, "d": _nested(10)}
    assert validate({"extra_body": body}).extra_body == body


async def test_nan_is_refused_at_every_entry_point(gateway: Gateway) -> None:
    """Constructor, update_options and chat(extra_kwargs=...) all refuse NaN before sending."""
    bad = {"extra_body": {"min_p": math.nan}}
    with pytest.raises(ValueError, match="extra_body"):
        hosted.LLM.self_hosted("m", base_url=gateway.url, backend="vllm", extra_kwargs=bad)
    model = hosted.LLM.self_hosted("m", base_url=gateway.url, backend="vllm")
    with pytest.raises(ValueError, match="extra_body"):
        model.update_options(extra_kwargs=bad)
    with pytest.raises(ValueError, match="extra_body"):
        model.chat(chat_ctx=user_ctx(), extra_kwargs=bad)
    assert gateway.requests == []
    await model.aclose()


# --- 9: rules of every backend, checked with backend="auto" too --------------------------------


@pytest.mark.parametrize("params", [{"n": 2}, {"modalities": ["audio"]}])
async def test_auto_backend_refuses_what_no_engine_honours(
    gateway: Gateway, params: dict[str, Any]
) -> None:
    """With backend="auto", n=2 or audio output was only refused once the stream ran (after
    the detection round trip); now it fails when the LLM is built, updated or called."""
    field = next(iter(params))
    with pytest.raises(ValueError, match=f"{field}=.*not supported by any backend"):
        hosted.LLM.self_hosted("m", base_url=gateway.url, extra_kwargs=params)
    model = hosted.LLM.self_hosted("m", base_url=gateway.url)
    with pytest.raises(ValueError, match=field):
        model.update_options(extra_kwargs=params)
    with pytest.raises(ValueError, match=field):
        model.chat(chat_ctx=user_ctx(), extra_kwargs=params)
    assert model.provider == "auto"  # nothing was asked of the server
    assert gateway.requests == []
    await model.aclose()


def test_every_profile_refuses_the_every_backend_rules() -> None:
    """The rules checked before detection hold on every profile (else a detected engine could
    honour what was refused)."""
    from livekit_plugins_hosted.backends import BACKENDS

    for params in ({"n": 3}, {"modalities": ["text", "audio"]}):
        for backend in BACKENDS.values():
            with pytest.raises(ValueError):
                backend.check(validate(params))


def test_auto_backend_accepts_what_some_engine_honours() -> None:
    """A value only some engines refuse still waits for detection (it is not refused early)."""
    model = _self_hosted(extra_kwargs={"n": 1, "modalities": ["text"], "logit_bias": {"1": 5}})
    assert model.extra_kwargs["n"] == 1


# --- 10: control characters in ids, keys and URLs ----------------------------------------------

SECRET_KEY = "sk-live-0123456789abcdef"


@pytest.mark.parametrize("bad", ["\r\nX-Injected: 1", "\x00", "\x7f", "\t"])
def test_self_hosted_key_with_control_characters_refused(bad: str) -> None:
    """A key with a line break inside failed three times as a retryable connection error; now
    it is a ValueError naming api_key, without the key."""
    with pytest.raises(ValueError, match="api_key contains") as info:
        _self_hosted(api_key=SECRET_KEY[:8] + bad + SECRET_KEY[8:])
    assert SECRET_KEY[:8] not in str(info.value) and SECRET_KEY[8:] not in str(info.value)


def test_self_hosted_key_non_ascii_refused() -> None:
    """A key pasted with a typographic character cannot go in a header."""
    with pytest.raises(ValueError, match="api_key contains a non-ASCII character"):
        _self_hosted(api_key="sk-\u2026abcdef")


def test_blank_key_refused() -> None:
    """A key file that held only a newline would silently send no key at all."""
    with pytest.raises(ValueError, match="api_key is blank"):
        _self_hosted(api_key=" \n")


@pytest.mark.parametrize(
    ("kw", "name"),
    [
        ({"api_key": "APIkey\r\nX: 1"}, "api_key"),
        ({"api_secret": "secret-with\x00-inside-0123456789"}, "api_secret"),
        ({"provider": "baseten\r\nX-Injected: 1"}, "provider"),
        # the transport refuses a header value with a space at either end: every request
        # failed as a retryable connection error
        ({"provider": " baseten"}, "provider"),
        ({"provider": "baseten "}, "provider"),
        ({"provider": ""}, "provider"),
    ],
)
def test_livekit_control_characters_refused(kw: dict[str, str], name: str) -> None:
    """LiveKit key, secret or provider with a line break: refused when built, naming it."""
    args = {"api_key": API_KEY, "api_secret": API_SECRET, **kw}
    with pytest.raises(ValueError, match=name) as info:
        hosted.LLM("google/gemma-4-31b-it", base_url="https://example.com/v1", **args)
    if name == "api_secret":
        assert "secret-with" not in str(info.value)


def test_a_bad_character_in_a_key_is_not_located() -> None:
    """The error for a key with a character HTTP cannot carry said which character and where:
    one character of the secret and a bound on its length."""
    with pytest.raises(ValueError, match="api_key contains a non-ASCII character") as info:
        _self_hosted(api_key="sk-abcdef\u20acghijklmnop")
    assert "U+20AC" not in str(info.value) and "position" not in str(info.value)


def test_livekit_environment_variable_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad character in an environment variable is reported under the variable's name."""
    monkeypatch.setenv("LIVEKIT_API_KEY", API_KEY)
    monkeypatch.setenv("LIVEKIT_API_SECRET", "abc\x1bdef-0123456789-long-enough")
    with pytest.raises(ValueError, match="LIVEKIT_API_SECRET contains") as info:
        hosted.LLM("google/gemma-4-31b-it", base_url="https://example.com/v1")
    assert "abc" not in str(info.value)


@pytest.mark.parametrize("model", ["google/gemma-4-31b-it\n", "gemma\r\nX: 1", "m\x00"])
def test_model_with_control_characters_refused(model: str) -> None:
    """A model id with a line break went to the server and into every log line."""
    with pytest.raises(ValueError, match="model="):
        hosted.LLM.self_hosted(model, base_url=REMOTE)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8000/v1\n/x", "http://127.0.0.1:8000/v\x001", "http://exa mple.com/v1"],
)
def test_base_url_with_control_characters_refused(url: str) -> None:
    """A URL with a control character raised the transport's InvalidURL (not a ValueError) or
    was sent with the character percent-encoded into the host."""
    with pytest.raises(ValueError, match="base_url"):
        hosted.LLM.self_hosted("m", base_url=url)
    with pytest.raises(ValueError, match="base_url"):
        hosted.LLM("m", base_url=url, api_key=API_KEY, api_secret=API_SECRET)


async def test_surrounding_whitespace_is_stripped(gateway: Gateway) -> None:
    """A URL or a secret read from a CRLF file keeps its line ending: stripped, it works (the
    JWT was signed with the wrong secret and the gateway answered 401)."""
    model = hosted.LLM(
        "google/gemma-4-31b-it",
        base_url=f" {gateway.url}\r\n",
        api_key=f"{API_KEY}\n",
        api_secret=f"{API_SECRET}\r\n",
    )
    assert model.base_url == gateway.url
    result = await model.chat(chat_ctx=user_ctx(), conn_options=ONE_TRY).collect()
    assert result.text == "Hello from the gateway."
    assert gateway.requests[-1].claims is not None
    await model.aclose()
