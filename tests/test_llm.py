"""hosted.LLM against the loopback gateway: the wire, auth, per-call precedence, streaming."""

from __future__ import annotations

import logging
from typing import Any

import httpx2 as httpx
import pytest
from livekit import api
from livekit.agents import APIConnectOptions, APIStatusError, llm
from livekit.agents.metrics import LLMMetrics

import livekit_plugins_hosted as hosted
from tests.gateway import (
    API_KEY,
    API_SECRET,
    Gateway,
    Reply,
    completion_chunks,
    gateway_llm,
    user_ctx,
)
from tests.waits import MetricsSeen

NO_RETRY = APIConnectOptions(max_retry=0, timeout=5)


_ctx = user_ctx

_llm = gateway_llm


@llm.function_tool
async def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


async def test_text_streams_with_provider_id_and_usage(gateway: Gateway) -> None:
    """A reply arrives whole, in order, with the provider's completion id and token usage."""
    model = _llm(gateway)
    chunks = [c async for c in model.chat(chat_ctx=_ctx())]
    text = "".join(c.delta.content for c in chunks if c.delta and c.delta.content)
    assert text == "Hello from the gateway."
    assert {c.id for c in chunks} == {"chatcmpl-test-1"}
    usage = [c.usage for c in chunks if c.usage]
    assert usage and usage[-1].completion_tokens == 4 and usage[-1].prompt_tokens == 11
    await model.aclose()


async def test_cache_writes_and_service_tier_reach_usage_and_metrics(gateway: Gateway) -> None:
    """Cache writes (``prompt_tokens_details.cache_write_tokens``) and the response's
    ``service_tier`` reach the framework's usage and its ``metrics_collected`` event, as the
    built-in reports them; billing and dashboards lost both."""
    usage = {
        "prompt_tokens": 300,
        "completion_tokens": 2,
        "total_tokens": 302,
        "prompt_tokens_details": {"cached_tokens": 128, "cache_write_tokens": 96},
    }
    events: list[dict[str, Any] | str] = []
    for event in completion_chunks(["Hi", "!"], usage=usage):
        events.append({**event, "service_tier": "priority"})
    gateway.replies.append(Reply(events=events))
    model = _llm(gateway)
    seen = MetricsSeen(model)
    chunks = [c async for c in model.chat(chat_ctx=_ctx())]
    (got,) = [c.usage for c in chunks if c.usage]
    assert (got.prompt_cached_tokens, got.cache_creation_tokens) == (128, 96)
    assert got.service_tier == "priority"
    metrics: LLMMetrics = await seen.first()
    assert (metrics.prompt_cached_tokens, metrics.cache_creation_tokens) == (128, 96)
    await model.aclose()


@pytest.mark.parametrize("shape", [{"crlf": True}, {"fragmented": True}])
async def test_sse_framing_variants(gateway: Gateway, shape: dict[str, bool]) -> None:
    """CRLF line ends, comment lines and lines split across reads all give the same reply."""
    gateway.replies.append(Reply.text("Hel", "lo", "!", **shape))
    model = _llm(gateway)
    result = await model.chat(chat_ctx=_ctx()).collect()
    assert result.text == "Hello!"
    await model.aclose()


async def test_gateway_verifies_the_jwt_with_the_secret(gateway: Gateway) -> None:
    """The gateway accepts the token: signed with the secret, inference grant, identity agent."""
    model = _llm(gateway)
    await model.chat(chat_ctx=_ctx()).collect()
    claims = gateway.requests[0].claims
    assert claims is not None and claims.inference is not None
    assert claims.inference.perform is True and claims.identity == "agent"
    await model.aclose()


async def test_wrong_secret_is_a_non_retryable_401(gateway: Gateway) -> None:
    """A wrong secret fails fast with a 401 and is not retried, and the secret is not shown."""
    model = hosted.LLM(
        "google/gemma-4-31b-it", base_url=gateway.url, api_key=API_KEY, api_secret="wrong" * 8
    )
    with pytest.raises(APIStatusError) as info:
        await model.chat(chat_ctx=_ctx()).collect()
    assert info.value.status_code == 401 and info.value.retryable is False
    assert len(gateway.requests) == 1
    assert "wrong" * 8 not in str(info.value) + repr(info.value)
    await model.aclose()


async def test_token_is_signed_once_for_many_requests(gateway: Gateway) -> None:
    """Five turns reuse one signed token instead of signing a JWT per chat()."""
    model = _llm(gateway)
    for _ in range(5):
        await model.chat(chat_ctx=_ctx()).collect()
    assert model.endpoint.token is not None and model.endpoint.token.signed == 1
    tokens = {r.headers["Authorization"] for r in gateway.requests}
    assert len(tokens) == 1
    await model.aclose()


async def test_every_parameter_arrives_top_level(gateway: Gateway) -> None:
    """Each given parameter reaches the wire under its own name, open-weight ones included."""
    params = {
        "temperature": 0.7,
        "max_completion_tokens": 1000,
        "frequency_penalty": 0.5,
        "presence_penalty": -0.5,
        "seed": 42,
        "stop": ["\n\n", "END"],
        "n": 1,
        "logprobs": True,
        "top_logprobs": 3,
        "logit_bias": {"1234": -100},
        "add_generation_prompt": False,
        "continue_final_message": True,
        "extra_body": {"chat_template_kwargs": {"enable_thinking": False}},
    }
    model = _llm(gateway, extra_kwargs=params)
    await model.chat(chat_ctx=_ctx()).collect()
    body = gateway.bodies[0]
    for name, value in params.items():
        if name != "extra_body":
            assert body[name] == value, name
    assert body["chat_template_kwargs"] == {"enable_thinking": False}
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["model"] == "google/gemma-4-31b-it"
    await model.aclose()


async def test_unsupported_parameters_are_dropped_and_logged(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    """Parameters Gemma 4 does not take are left out of the request, with a warning once."""
    with caplog.at_level(logging.WARNING, logger="livekit.plugins.hosted"):
        model = _llm(gateway, extra_kwargs={"reasoning_effort": "low", "user": "u1"})
    assert "reasoning_effort" in caplog.text and "user" in caplog.text
    await model.chat(chat_ctx=_ctx()).collect()
    assert "reasoning_effort" not in gateway.bodies[0] and "user" not in gateway.bodies[0]
    await model.aclose()


async def test_extra_body_is_sent_and_not_reported_as_dropped(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    """The README's thinking-off recipe: extra_body is sent, and no log line claims otherwise."""
    extra = {"extra_body": {"chat_template_kwargs": {"enable_thinking": False}}}
    with caplog.at_level(logging.DEBUG, logger="livekit.plugins.hosted"):
        model = _llm(gateway, extra_kwargs=extra)
        await model.chat(chat_ctx=_ctx()).collect()
    assert "extra_body" not in caplog.text
    assert gateway.bodies[0]["chat_template_kwargs"] == {"enable_thinking": False}
    await model.aclose()


async def test_headers_name_plugin_and_provider(gateway: Gateway) -> None:
    """The gateway sees this plugin's User-Agent and the requested provider."""
    model = _llm(gateway, provider="baseten")
    await model.chat(chat_ctx=_ctx()).collect()
    headers = gateway.requests[0].headers
    assert headers["User-Agent"].startswith(f"livekit-plugins-hosted/{hosted.__version__}")
    assert headers["X-LiveKit-Inference-Provider"] == "baseten"
    await model.aclose()


async def test_per_call_values_win_over_persistent(gateway: Gateway) -> None:
    """chat(tool_choice=, parallel_tool_calls=, extra_kwargs=) override the persistent ones."""
    model = _llm(
        gateway,
        extra_kwargs={"tool_choice": "none", "parallel_tool_calls": True, "temperature": 0.2},
    )
    await model.chat(
        chat_ctx=_ctx(),
        tools=[get_weather],
        tool_choice="required",
        parallel_tool_calls=False,
        extra_kwargs={"temperature": 1.5},
    ).collect()
    body = gateway.bodies[0]
    assert body["tool_choice"] == "required"
    assert body["parallel_tool_calls"] is False
    assert body["temperature"] == 1.5
    await model.aclose()


async def test_named_tool_choice_and_non_strict_schema(gateway: Gateway) -> None:
    """A named tool choice is sent as OpenAI's object; schemas are non-strict by default."""
    model = _llm(gateway)
    choice: llm.ToolChoice = {"type": "function", "function": {"name": "get_weather"}}
    await model.chat(chat_ctx=_ctx(), tools=[get_weather], tool_choice=choice).collect()
    body = gateway.bodies[0]
    assert body["tool_choice"] == choice
    assert body["tools"][0]["function"]["name"] == "get_weather"
    assert "strict" not in body["tools"][0]["function"]
    await model.aclose()


async def test_tool_fields_dropped_without_tools(gateway: Gateway) -> None:
    """tool_choice/parallel_tool_calls are not sent when there are no tools (servers 400)."""
    model = _llm(gateway, extra_kwargs={"tool_choice": "required", "parallel_tool_calls": True})
    await model.chat(chat_ctx=_ctx()).collect()
    body = gateway.bodies[0]
    assert "tool_choice" not in body and "parallel_tool_calls" not in body and "tools" not in body
    await model.aclose()


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"temperature": 7}, "temperature"),
        ({"temperature": 0.5, "top_p": 0.5}, "top_p"),
        ({"top_logprobs": 50, "logprobs": True}, "top_logprobs"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"add_generation_prompt": True, "continue_final_message": True}, "continue_final_message"),
        ({"temprature": 0.5}, "temperature"),
    ],
)
async def test_bad_parameters_never_reach_the_wire(
    gateway: Gateway, kwargs: dict[str, Any], field: str
) -> None:
    """Each invalid value raises ValueError naming the field, at construction and per call."""
    with pytest.raises(ValueError, match=field):
        _llm(gateway, extra_kwargs=kwargs)
    model = _llm(gateway)
    with pytest.raises(ValueError, match=field):
        model.chat(chat_ctx=_ctx(), extra_kwargs=kwargs)
    with pytest.raises(ValueError, match=field):
        model.update_options(extra_kwargs=kwargs)
    assert gateway.requests == []
    await model.aclose()


async def test_update_options_replaces_model_and_params(gateway: Gateway) -> None:
    """update_options changes what the next chat() sends."""
    model = _llm(gateway, extra_kwargs={"temperature": 0.1})
    model.update_options(model="google/gemma-3-270m", extra_kwargs={"seed": 7})
    await model.chat(chat_ctx=_ctx()).collect()
    body = gateway.bodies[0]
    assert body["model"] == "google/gemma-3-270m" and body["seed"] == 7
    assert "temperature" not in body
    assert model.model == "google/gemma-3-270m"
    await model.aclose()


async def test_thinking_never_reaches_the_caller(gateway: Gateway) -> None:
    """Gemma 4 thought text, split across chunks and in reasoning fields, is never spoken."""
    events = [
        {"id": "c", "choices": [{"index": 0, "delta": {"reasoning": "hidden plan"}}]},
        {"id": "c", "choices": [{"index": 0, "delta": {"reasoning_content": "more"}}]},
        {"id": "c", "choices": [{"index": 0, "delta": {"content": "<|chan"}}]},
        {"id": "c", "choices": [{"index": 0, "delta": {"content": "nel>thought I should"}}]},
        {"id": "c", "choices": [{"index": 0, "delta": {"content": " greet<chan"}}]},
        {"id": "c", "choices": [{"index": 0, "delta": {"content": "nel|>Hi there"}}]},
        {"id": "c", "choices": [{"index": 0, "delta": {"content": "!"}, "finish_reason": "stop"}]},
    ]
    gateway.replies.append(Reply(events=list(events)))
    model = _llm(gateway)
    result = await model.chat(chat_ctx=_ctx()).collect()
    assert result.text == "Hi there!"
    await model.aclose()


async def test_parallel_tool_calls_assemble(gateway: Gateway) -> None:
    """Two parallel calls with interleaved argument fragments come out as two whole calls."""

    def tc(index: int, args: str, name: str | None = None) -> dict[str, Any]:
        call: dict[str, Any] = {"index": index, "function": {"arguments": args}}
        if name:
            call.update(id=f"call_{index}", type="function")
            call["function"]["name"] = name
        return call

    events = [
        {
            "id": "c",
            "choices": [{"index": 0, "delta": {"tool_calls": [tc(0, '{"ci', "get_weather")]}}],
        },
        {
            "id": "c",
            "choices": [{"index": 0, "delta": {"tool_calls": [tc(1, '{"city"', "get_weather")]}}],
        },
        {"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [tc(0, 'ty": "Paris"}')]}}]},
        {"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [tc(1, ': "Oslo"}')]}}]},
        {"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    ]
    gateway.replies.append(Reply(events=list(events)))
    model = _llm(gateway)
    result = await model.chat(chat_ctx=_ctx(), tools=[get_weather]).collect()
    assert [(c.call_id, c.name, c.arguments) for c in result.tool_calls] == [
        ("call_0", "get_weather", '{"city": "Paris"}'),
        ("call_1", "get_weather", '{"city": "Oslo"}'),
    ]
    await model.aclose()


async def test_only_choice_zero_is_spoken(gateway: Gateway) -> None:
    """With n=2 the caller hears choice 0 only, never a mix of alternatives."""
    events = [
        {
            "id": "c",
            "choices": [
                {"index": 0, "delta": {"content": "Yes"}},
                {"index": 1, "delta": {"content": "No"}},
            ],
        },
        {"id": "c", "choices": [{"index": 1, "delta": {"content": " way"}}]},
        {
            "id": "c",
            "choices": [{"index": 0, "delta": {"content": " indeed"}, "finish_reason": "stop"}],
        },
        {"id": "c", "choices": [{"index": 1, "delta": {}, "finish_reason": "stop"}]},
    ]
    gateway.replies.append(Reply(events=list(events)))
    model = _llm(gateway)  # a server may send more choices than asked for
    result = await model.chat(chat_ctx=_ctx()).collect()
    assert result.text == "Yes indeed"
    await model.aclose()


async def test_prewarm_opens_a_connection_without_tokens_spent(gateway: Gateway) -> None:
    """prewarm() makes one authenticated GET /models and no completion."""
    model = _llm(gateway)
    await model._prewarm_impl()
    assert [r.path for r in gateway.requests] == ["/v1/models"]
    assert gateway.requests[0].claims is not None
    await model.aclose()


async def test_http_client_passed_in_is_used_and_not_closed(gateway: Gateway) -> None:
    """A pool the user passed in carries the requests (with the token) and stays open."""
    seen: list[str] = []

    async def hook(request: httpx.Request) -> None:
        seen.append(str(request.url))

    client = httpx.AsyncClient(event_hooks={"request": [hook]})
    model = _llm(gateway, http_client=client)
    result = await model.chat(chat_ctx=_ctx()).collect()
    assert result.text == "Hello from the gateway."
    assert seen == [f"{gateway.url}/chat/completions"]
    assert gateway.requests[0].claims is not None
    await model.aclose()
    assert not client.is_closed
    await client.aclose()


async def test_self_hosted_sends_plain_key_or_none(gateway: Gateway) -> None:
    """Self-hosted: a plain bearer key when given, no Authorization header when not."""
    gateway._verify = False
    with_key = hosted.LLM.self_hosted("m", base_url=gateway.url, api_key="sk-local")
    without = hosted.LLM.self_hosted("m", base_url=gateway.url)
    await with_key.chat(chat_ctx=_ctx()).collect()
    await without.chat(chat_ctx=_ctx()).collect()
    sent = [r for r in gateway.requests if r.body is not None]
    assert sent[0].headers["Authorization"] == "Bearer sk-local"
    assert "Authorization" not in sent[1].headers
    assert with_key.provider == "openai-compatible"  # detected: the double names no engine
    await with_key.aclose()
    await without.aclose()


def test_repr_and_errors_hide_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither repr() nor the token object shows the API secret or a signed token."""
    model = hosted.LLM("google/gemma-4-31b-it", api_key=API_KEY, api_secret=API_SECRET)
    assert model.endpoint.token is not None
    token = model.endpoint.token.get()
    for text in (
        repr(model),
        repr(model.endpoint.token),
        str(vars(model._opts)),
        repr(model.endpoint),
    ):
        assert API_SECRET not in text and token not in text


def test_missing_credentials_name_the_variables() -> None:
    """Without credentials the error names the environment variables to set."""
    with pytest.raises(ValueError, match="LIVEKIT_API_SECRET"):
        hosted.LLM("google/gemma-4-31b-it", api_key="k")
    with pytest.raises(ValueError, match="LIVEKIT_API_KEY"):
        hosted.LLM("google/gemma-4-31b-it")


def test_credentials_refused_over_plain_http_to_remote_host() -> None:
    """LiveKit credentials are never sent in clear text to a non-loopback host."""
    with pytest.raises(ValueError, match="https"):
        hosted.LLM(
            "google/gemma-4-31b-it",
            base_url="http://gateway.example.com/v1",
            api_key=API_KEY,
            api_secret=API_SECRET,
        )


def test_token_is_what_the_gateway_accepts() -> None:
    """The signed token verifies with livekit-api's own verifier and secret."""
    model = hosted.LLM("google/gemma-4-31b-it", api_key=API_KEY, api_secret=API_SECRET)
    assert model.endpoint.token is not None
    claims = api.TokenVerifier(API_KEY, API_SECRET).verify(model.endpoint.token.get())
    assert claims.inference is not None and claims.inference.perform
