"""The command line against the loopback gateway (and the real local engine where marked).

``main()`` calls ``asyncio.run``, which cannot nest in the test's loop, so it runs in a worker
thread (``asyncio.to_thread``) while the gateway keeps serving on the test's loop. A few tests
run ``python -m livekit_plugins_hosted`` as a subprocess to see exactly what a user sees.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from typing import Any

import pytest

from livekit_plugins_hosted.cli import build_parser, main
from livekit_plugins_hosted.cli import flags as cli_flags
from livekit_plugins_hosted.cli.flags import PARAM_FLAGS, collect_params
from livekit_plugins_hosted.llm import DEFAULT_FIRST_TOKEN_TIMEOUT
from livekit_plugins_hosted.local import INSTALL_HINT, LOCAL_MODEL_ID, local_engine_available
from livekit_plugins_hosted.params import ModelParams
from tests.gateway import API_KEY, API_SECRET, Gateway, Reply

WRONG_SECRET = "wrong-secret-that-is-long-enough-for-hs256-000000"
QUOTA = {
    "X-LiveKit-Inference-RPM-Used": "3",
    "X-LiveKit-Inference-RPM-Limit": "600",
    "X-LiveKit-Inference-TPM-Used": "120",
    "X-LiveKit-Inference-TPM-Limit": "100000",
    "X-LiveKit-Inference-Credits-Used": "0.25",
    "X-LiveKit-Inference-Credits-Limit": "10",
}

# the real-engine tests run in CI (where they must not skip) and wherever the extra is installed
needs_engine = pytest.mark.skipif(
    not local_engine_available() and not os.environ.get("CI"),
    reason="the local extra is not installed",
)


async def cli(*argv: str) -> int:
    """``main(argv)`` in a worker thread, so the gateway on this loop keeps answering."""
    return await asyncio.to_thread(main, list(argv))


def _tokens(gateway: Gateway) -> list[str]:
    """The bearer tokens the gateway saw, which must never be printed."""
    return [
        auth.removeprefix("Bearer ")
        for r in gateway.requests
        if (auth := r.headers.get("Authorization"))
    ]


def _assert_no_secret(text: str, gateway: Gateway | None = None) -> None:
    assert API_SECRET not in text and WRONG_SECRET not in text
    for token in _tokens(gateway) if gateway else []:
        assert token not in text


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


# --- the parser ----------------------------------------------------------------------------


def test_every_model_parameter_has_a_flag() -> None:
    """Flags are generated from ModelParams: none missing, and each one parses to its field."""
    assert {f.name for f in PARAM_FLAGS} == set(ModelParams.model_fields)
    args = build_parser().parse_args(
        [
            "chat",
            "x",
            "--top-p=0.5",
            "--n=1",
            "--logprobs",
            "--top-logprobs=3",
            "--tool-choice=auto",
            "--modalities=text",
            "--reasoning-effort=low",
            "--continue-final-message",
            "--metadata",
            '{"k": "v"}',
            "--prediction",
            '{"type": "content", "content": "hi"}',
        ]
    )
    assert collect_params(args) == {
        "top_p": 0.5,
        "n": 1,
        "logprobs": True,
        "top_logprobs": 3,
        "tool_choice": "auto",
        "modalities": ["text"],
        "reasoning_effort": "low",
        "continue_final_message": True,
        "metadata": {"k": "v"},
        "prediction": {"type": "content", "content": "hi"},
    }


def test_backend_defaults_to_auto_and_lists_the_engines() -> None:
    """--backend finds the engine out by default; LiveKit's own profile is not an engine."""
    parser = build_parser()
    assert parser.parse_args(["chat", "x"]).backend == "auto"
    assert parser.parse_args(["chat", "x", "--backend", "llama.cpp"]).backend == "llama.cpp"
    assert main(["chat", "x", "--backend", "livekit"]) == 2


@pytest.mark.parametrize(
    ("text", "value"),
    [("2.5", 2.5), ("0", None), ("0.0", None), ("none", None), ("None", None)],
)
def test_first_token_timeout_values(text: str, value: float | None) -> None:
    """--first-token-timeout takes seconds, or 0/none for no deadline."""
    args = build_parser().parse_args(["chat", "x", "--first-token-timeout", text])
    assert args.first_token_timeout == value


def test_first_token_timeout_default_is_the_librarys() -> None:
    """Without the flag, chat has the same first-word deadline as hosted.LLM."""
    args = build_parser().parse_args(["chat", "x"])
    assert args.first_token_timeout == DEFAULT_FIRST_TOKEN_TIMEOUT


@pytest.mark.parametrize("text", ["-1", "abc", "inf", "nan", ""])
def test_first_token_timeout_refuses_bad_values(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad deadline is one usage error naming the flag and what it allows (exit 2)."""
    assert main(["chat", "x", f"--first-token-timeout={text}"]) == 2
    errors = _error_lines(capsys.readouterr().err)
    assert len(errors) == 1 and "--first-token-timeout" in errors[0], errors
    assert "0 or none for no deadline" in errors[0]


# --- subprocess: what a user sees ----------------------------------------------------------


def _python_m(*argv: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "livekit_plugins_hosted", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        **kw,
    )


def test_help_as_a_module() -> None:
    """``python -m livekit_plugins_hosted --help`` lists the four commands and exits 0."""
    proc = _python_m("--help")
    assert proc.returncode == 0, proc.stderr
    for command in ("models", "chat", "doctor", "serve-local"):
        assert command in proc.stdout
    assert "python -m livekit_plugins_hosted" in proc.stdout


@pytest.mark.parametrize(
    ("argv", "code", "needle"),
    [
        (["chat", "hi"], 2, "LIVEKIT_API_KEY"),
        (["chat", "hi", "--temperature", "7"], 2, "temperature"),
        (["chat", "hi", "--logit-bias", "{not json"], 2, "--logit-bias"),
        (["chat", "hi", "--base-url", "http://127.0.0.1:9/v1", "--retries", "0"], 1, "127.0.0.1"),
    ],
)
def test_errors_are_one_line_without_traceback(argv: list[str], code: int, needle: str) -> None:
    """A failure is one 'error:' line on stderr and an exit code, never a traceback."""
    proc = _python_m(*argv)
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = _error_lines(proc.stderr)
    assert len(errors) == 1 and needle in errors[0], proc.stderr


# --- models ----------------------------------------------------------------------------------


def test_models_table(capsys: pytest.CaptureFixture[str]) -> None:
    """The table has a header and one row per catalogue model with tools, place, parameters."""
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:5] == ["ID", "FAMILY", "TOOLS", "WHERE", "PARAMETERS"]
    gemma4 = next(line for line in lines if line.startswith("google/gemma-4-31b-it"))
    assert "Gemma 4 31B IT" in gemma4 and " yes " in gemma4 and " hosted " in gemma4
    assert "temperature" in gemma4 and "add_generation_prompt" in gemma4
    assert "reasoning_effort" not in gemma4 and "service_tier" not in gemma4
    local = next(line for line in lines if line.startswith(LOCAL_MODEL_ID))
    assert " no " in local and " local " in local


def test_models_json(capsys: pytest.CaptureFixture[str]) -> None:
    """``models --json`` is the same catalogue and the families, machine-readable."""
    assert main(["models", "--json"]) == 0
    catalogue = json.loads(capsys.readouterr().out)
    rows = {row["id"]: row for row in catalogue["models"]}
    assert rows["google/gemma-4-31b-it"]["tools"] is True
    assert rows["google/gemma-4-31b-it"]["where"] == "hosted"
    assert rows[LOCAL_MODEL_ID]["where"] == "local"
    families = {f["key"]: f for f in catalogue["families"]}
    assert families["gemma-4"]["name"] == "Gemma 4"
    assert families["gemma-4"]["thinking"] == [["<|channel>thought", "<channel|>"]]


def test_models_explains_family_matching(capsys: pytest.CaptureFixture[str]) -> None:
    """Below the table: one line per family with its thinking markers, and how ids match."""
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    gemma4 = next(line for line in out.splitlines() if line.startswith("gemma-4 "))
    assert "Gemma 4" in gemma4 and "<|channel>thought ... <channel|>" in gemma4
    assert any(line.startswith("gemma-3 ") for line in out.splitlines())
    flat = " ".join(out.split())
    assert "case-insensitively" in flat and "Ollama tags and file paths do not matter" in flat
    assert "models --match ID" in flat


@pytest.mark.parametrize(
    "model_id",
    ["google/gemma-4-31B-it", "gemma4:31b", "unsloth/gemma-4-31b-it-GGUF:Q4_K_M"],
)
def test_models_match_gemma_4(model_id: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Any spelling a server uses for Gemma 4 is reported as Gemma 4, with its markers."""
    assert main(["models", "--match", model_id]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"{model_id}: Gemma 4 (gemma-4)"
    assert "<|channel>thought ... <channel|>" in out


def test_models_match_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    """An id of no known family says so and shows the generic markers it gets."""
    assert main(["models", "--match", "mistralai/Mistral-7B-Instruct"]) == 0
    out = capsys.readouterr().out
    assert "no known family" in out and "<think> ... </think>" in out


def test_models_match_json(capsys: pytest.CaptureFixture[str]) -> None:
    """``--match --json`` gives the family and markers machine-readably (null if none)."""
    assert main(["models", "--match", "gemma4:31b", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["family"]["key"] == "gemma-4"
    assert found["thinking"] == [["<|channel>thought", "<channel|>"]]
    assert main(["models", "--match", "phi-4", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["family"] is None


# --- chat ------------------------------------------------------------------------------------


async def test_chat_streams_the_reply(
    gateway_env: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    """Credentials from the environment; the reply on stdout, the metrics on stderr."""
    assert await cli("chat", "Hi") == 0
    out, err = capsys.readouterr()
    assert out == "Hello from the gateway.\n"
    assert "[metrics] google/gemma-4-31b-it: TTFT " in err and "4 completion tokens" in err
    assert "tokens/s" in err
    assert gateway_env.bodies[-1]["model"] == "google/gemma-4-31b-it"
    assert gateway_env.requests[-1].claims is not None  # the JWT verified
    _assert_no_secret(out + err, gateway_env)


class _Recorder:
    """A stdout that records writes and flushes in order."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def write(self, text: str) -> int:
        self.events.append(text)
        return len(text)

    def flush(self) -> None:
        self.events.append("<flush>")


async def test_chat_flushes_each_chunk(
    gateway_env: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each chunk is written and flushed as it arrives, not at the end."""
    recorder = _Recorder()
    monkeypatch.setattr(sys, "stdout", recorder)
    assert await cli("chat", "Hi") == 0
    assert recorder.events[:8] == [
        "Hello",
        "<flush>",
        " from",
        "<flush>",
        " the",
        "<flush>",
        " gateway.",
        "<flush>",
    ]


async def test_chat_flags_reach_the_wire(
    gateway_env: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every flag arrives under its reference name; the system message goes first."""
    code = await cli(
        "chat",
        "Hi",
        "--system",
        "Be brief.",
        "--temperature",
        "0.3",
        "--max-completion-tokens",
        "5",
        "--stop",
        "END",
        "--stop",
        "\n\n",
        "--no-add-generation-prompt",
        "--seed",
        "7",
        "--logit-bias",
        '{"123": -5}',
        "--extra-body",
        '{"chat_template_kwargs": {"enable_thinking": false}}',
    )
    assert code == 0, capsys.readouterr().err
    body = gateway_env.bodies[-1]
    assert body["temperature"] == 0.3
    assert body["max_completion_tokens"] == 5
    assert body["stop"] == ["END", "\n\n"]
    assert body["add_generation_prompt"] is False
    assert body["seed"] == 7
    assert body["logit_bias"] == {"123": -5}
    assert body["chat_template_kwargs"] == {"enable_thinking": False}
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["--temperature", "7"], "temperature"),
        (["--temperature", "0.5", "--top-p", "0.5"], "top_p"),
        (["--top-logprobs", "5"], "top_logprobs"),
        (["--stop", "a", "--stop", "b", "--stop", "c", "--stop", "d", "--stop", "e"], "stop"),
        (["--logit-bias", '{"abc": 1}'], "logit_bias"),
    ],
)
async def test_bad_parameter_exits_2_before_sending(
    gateway_env: Gateway, capsys: pytest.CaptureFixture[str], argv: list[str], name: str
) -> None:
    """A parameter the reference forbids fails with one line naming it; nothing is sent."""
    assert await cli("chat", "Hi", *argv) == 2
    err = capsys.readouterr().err
    errors = _error_lines(err)
    assert len(errors) == 1 and name in errors[0], err
    assert "Traceback" not in err
    assert gateway_env.requests == []


async def test_missing_credentials(capsys: pytest.CaptureFixture[str]) -> None:
    """No credentials, no --local/--base-url: one line naming the variables, suggesting --local."""
    assert await cli("chat", "Hi") != 0
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "LIVEKIT_API_KEY" in err and "LIVEKIT_API_SECRET" in err and "--local" in err


async def test_unusable_credential_is_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A secret that is set but cannot be sent (a pasted non-ASCII character) was reported as
    'no LiveKit credentials', sending the user to set what they had set: one line names the
    variable, never the value, and nothing is signed or sent."""
    monkeypatch.setenv("LIVEKIT_API_KEY", API_KEY)
    monkeypatch.setenv("LIVEKIT_API_SECRET", "s\u00e9cret-" + API_SECRET)
    assert await cli("chat", "Hi") == 2
    err = capsys.readouterr().err
    errors = _error_lines(err)
    assert len(errors) == 1 and "LIVEKIT_API_SECRET" in errors[0], err
    assert "no LiveKit credentials" not in err and "Traceback" not in err
    _assert_no_secret(err)


async def test_api_error_is_one_line_exit_1(
    gateway_env: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 4xx from the server: its message in one line, exit 1, not retried."""
    gateway_env.replies.append(Reply.error(400, "model does not exist"))
    assert await cli("chat", "Hi") == 1
    err = capsys.readouterr().err
    errors = _error_lines(err)
    assert len(errors) == 1 and "400: model does not exist" in errors[0]
    assert len(gateway_env.requests) == 1


async def test_wrong_secret_is_reported_without_the_secret(
    gateway_env: Gateway, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 401 names the key to check and never prints the secret or the token."""
    monkeypatch.setenv("LIVEKIT_API_SECRET", WRONG_SECRET)
    assert await cli("chat", "Hi") == 1
    out, err = capsys.readouterr()
    assert "401" in _error_lines(err)[0]
    _assert_no_secret(out + err, gateway_env)


async def test_chat_self_hosted_base_url(
    gateway: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    """--base-url talks to any OpenAI-compatible server; --api-key is a plain bearer key."""
    gateway._verify = False
    assert await cli("chat", "Hi", "--base-url", gateway.url, "--backend", "vllm") == 0
    assert "Authorization" not in gateway.requests[-1].headers
    assert await cli("chat", "Hi", "--base-url", gateway.url, "--api-key", "sk-local-123") == 0
    assert gateway.requests[-1].headers["Authorization"] == "Bearer sk-local-123"
    out, err = capsys.readouterr()
    assert out == "Hello from the gateway.\n" * 2
    assert "sk-local-123" not in out + err


async def test_chat_self_hosted_refuses_what_the_backend_ignores(
    gateway: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    """--backend's refusals apply before sending: llama-cpp-python cannot do n=2."""
    gateway._verify = False
    code = await cli(
        "chat", "Hi", "--base-url", gateway.url, "--backend", "llama-cpp-python", "--n", "2"
    )
    assert code == 2
    assert "n=2" in _error_lines(capsys.readouterr().err)[0]
    assert gateway.requests == []


@pytest.mark.parametrize(
    "argv",
    [
        ["--local", "--base-url", "http://127.0.0.1:1/v1"],
        ["--api-key", "sk-x"],
        ["--local", "--model", "google/gemma-4-31b-it"],
        ["--base-url", "http://127.0.0.1:1/v1", "--provider", "baseten"],
        ["--base-url", "http://127.0.0.1:1/v1", "--inference-class", "low"],
        ["--local", "--inference-class", "priority"],
        ["--backend", "vllm"],
    ],
)
async def test_conflicting_options(
    gateway_env: Gateway, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    """Options that do not go together fail with exit 2 and nothing is sent."""
    assert await cli("chat", "Hi", *argv) == 2
    assert len(_error_lines(capsys.readouterr().err)) == 1
    assert gateway_env.requests == []


_UNSENDABLE = ["caf\u00e9", "a\r\nX-Injected: 1", "tab\there", " edge", "edge ", ""]
_HEADER_FLAGS = {
    "chat-provider": ["chat", "Hi", "--provider"],
    "doctor-provider": ["doctor", "--provider"],
    "chat-api-key": ["chat", "Hi", "--base-url", "http://127.0.0.1:1/v1", "--api-key"],
    # the URL is no header, but doctor signed a token before it found it unusable (exit 1)
    "doctor-base-url": ["doctor", "--base-url"],
    "chat-base-url": ["chat", "Hi", "--base-url"],
}


@pytest.mark.parametrize(
    ("argv", "value"),
    [
        pytest.param(argv, value, id=f"{name}-{value!r}")
        for name, argv in _HEADER_FLAGS.items()
        for value in _UNSENDABLE
        # a key's surrounding whitespace is stripped (a key file's line end), by design
        if not (name == "chat-api-key" and value.strip() and value != value.strip())
        and not (name.endswith("base-url") and value in ("", " edge", "edge ", "caf\u00e9"))
    ],
)
async def test_header_bound_flags_that_cannot_be_sent(
    gateway_env: Gateway, capsys: pytest.CaptureFixture[str], argv: list[str], value: str
) -> None:
    """A flag whose value goes into a header (non-ASCII, a line break, a control character)
    is one usage error naming the flag, exit 2, before a token is signed or anything sent;
    doctor printed "'ascii' codec can't encode character" after signing a token."""
    assert await cli(*argv, value) == 2
    out, err = capsys.readouterr()
    assert f"argument {argv[-1]}:" in err, err
    assert "codec" not in err and "ok" not in _status(out).values()
    assert gateway_env.requests == []
    if argv[-1] == "--api-key" and value.strip():
        assert value.strip() not in err  # a key is never repeated


@pytest.mark.parametrize(
    "argv",
    [
        ["doctor", "--api-key", "sk-TOPSECRET42"],
        ["models", "--api-key=sk-TOPSECRET42"],
        ["doctor", "--base-url", "http://127.0.0.1:9/v1", "--api", "sk-TOPSECRET42"],
        ["chat", "Hi", "--api-key", "sk-TOPSECRET42", "--no-such-flag"],
    ],
)
async def test_a_key_is_masked_in_usage_errors(
    gateway_env: Gateway, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    """A command that takes no --api-key (or any other usage error) printed "unrecognized
    arguments: --api-key sk-..." with the key."""
    assert await cli(*argv) == 2
    out, err = capsys.readouterr()
    assert "TOPSECRET" not in out + err and err.startswith("error:"), err
    assert gateway_env.requests == []


async def test_chat_inference_class_reaches_the_gateway(
    gateway_env: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    """--inference-class low is sent as X-LiveKit-Inference-Priority: low."""
    assert await cli("chat", "Hi", "--inference-class", "low") == 0, capsys.readouterr().err
    assert gateway_env.requests[-1].headers["X-LiveKit-Inference-Priority"] == "low"


async def test_chat_first_token_timeout_reaches_the_llm(
    gateway_env: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    """A server silent past --first-token-timeout fails the attempt, naming the deadline."""
    gateway_env.replies.append(Reply.text("Hel", "lo", stall_after=0))
    code = await cli("chat", "Hi", "--first-token-timeout", "0.3", "--retries", "0")
    assert code == 1
    errors = _error_lines(capsys.readouterr().err)
    assert len(errors) == 1 and "within 0.3s (first_token_timeout)" in errors[0], errors
    assert gateway_env.url in errors[0]


@pytest.mark.parametrize("text", ["0", "-1", "abc", "inf"])
def test_max_thinking_time_refuses_bad_values(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """--max-thinking-time takes seconds > 0; anything else is one usage error (exit 2)."""
    assert main(["chat", "x", f"--max-thinking-time={text}"]) == 2
    errors = _error_lines(capsys.readouterr().err)
    assert len(errors) == 1 and "--max-thinking-time" in errors[0], errors


async def test_max_thinking_time_on_livekit_inference_is_refused(
    gateway_env: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    """LiveKit Inference has no way to end a thought: refused before anything is sent."""
    assert await cli("chat", "Hi", "--max-thinking-time", "1") == 2
    errors = _error_lines(capsys.readouterr().err)
    assert len(errors) == 1 and "max_thinking_time is not supported by the livekit" in errors[0]
    assert gateway_env.requests == []


async def test_chat_max_thinking_time_ends_the_thought_and_says_how_long_it_ran(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """On Ollama a thought still running at the deadline is followed by asking again with
    thinking off; the answer is printed and stderr says how long the thought ran."""
    thought = [{"id": "c", "choices": [{"index": 0, "delta": {"reasoning": "hmm "}}]}] * 60
    async with Gateway(verify_jwt=False) as own:
        own.replies += [
            Reply(events=list(thought), delay_between=0.05),
            Reply.text("Four", "."),
        ]
        code = await cli(
            "chat", "2+2?", "--base-url", own.url, "--backend", "ollama",
            "--max-thinking-time", "0.5", "--reasoning-effort", "high",
        )  # fmt: skip
        bodies = own.bodies
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.strip() == "Four."
    assert "[thinking] 0." in err and "ended by max_thinking_time" in err, err
    assert [b.get("reasoning_effort") for b in bodies] == ["high", "none"]


async def test_retries_are_one_line_each_and_the_last_error_names_the_url(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each retry is one short line; the final error names the URL that failed, no field dump."""
    url = "http://127.0.0.1:9/v1"  # the discard port: nothing listens there
    code = await cli("chat", "Hi", "--base-url", url, "--backend", "vllm", "--retries", "2")
    assert code == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3, lines
    failure = f"connection to {url} failed: ConnectError"
    assert lines[0].startswith(f"retrying (attempt 1 of 3): {failure}")
    assert lines[1].startswith(f"retrying (attempt 2 of 3): {failure}")
    assert lines[2].startswith(f"error: failed after 3 attempts; last error: {failure}")
    assert "failed to generate LLM completion" not in "\n".join(lines)


async def test_debug_keeps_the_frameworks_retry_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With --debug the framework's own retry warning is shown as it is."""
    url = "http://127.0.0.1:9/v1"
    code = await cli("chat", "Hi", "--debug", "--base-url", url, "--backend", "vllm", "--retries=1")
    assert code == 1
    err = capsys.readouterr().err
    assert "failed to generate LLM completion: " in err and "retrying in" in err
    assert err.strip().splitlines()[-1].startswith("error: failed after 2 attempts; last error: ")


@pytest.mark.parametrize("argv", [["chat", "Hi", "--local"], ["serve-local", "--duration", "1"]])
async def test_missing_local_extra_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    """Without the [local] extra: exit 2 and the one install hint, nothing started."""
    monkeypatch.setattr(cli_flags, "local_engine_available", lambda: False)
    assert await cli(*argv) == 2
    assert capsys.readouterr().err.splitlines() == [f"error: {INSTALL_HINT}"]


async def test_debug_shows_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    """--debug (before or after the command) adds the traceback to the error line."""
    assert await cli("chat", "Hi", "--debug", "--temperature", "7") == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("error:")


async def test_ctrl_c_exits_130_without_traceback(gateway_env: Gateway) -> None:
    """SIGINT while a reply is streaming: exit 130, no traceback, the request is dropped."""
    gateway_env.replies.append(Reply.text("Hel", "lo", stall_after=1))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "livekit_plugins_hosted",
        "chat",
        "Hi",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = await asyncio.wait_for(proc.stdout.read(3), 30)  # the first chunk arrived
    assert first == b"Hel"
    proc.send_signal(signal.SIGINT)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 130
    assert b"Traceback" not in err


# --- doctor ----------------------------------------------------------------------------------


def _status(out: str) -> dict[str, str]:
    """Check name -> its line's status word."""
    statuses = {}
    for line in out.splitlines():
        status, _, rest = line.partition(" ")
        name = rest.strip().split("  ")[0].strip()
        statuses[name] = status
    return statuses


async def test_doctor_all_ok_with_quota(
    gateway_env: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every check passes; the 1-token completion's quota headers are printed."""
    gateway_env.replies.append(Reply.text("x", headers=QUOTA))
    assert await cli("doctor") == 0
    out, err = capsys.readouterr()
    assert set(_status(out).values()) == {"ok"}, out
    assert len(out.splitlines()) == 6
    assert f"GET {gateway_env.url}/models -> 200" in out
    assert "median of 3" in out
    assert "RPM 3/600 used" in out and "TPM 120/100000 used" in out
    assert "credits 0.25/10 used" in out
    assert gateway_env.bodies[-1]["max_completion_tokens"] == 1
    assert [r.path for r in gateway_env.requests].count("/v1/models") == 4
    _assert_no_secret(out + err, gateway_env)


async def test_doctor_quota_not_reported(
    gateway: Gateway, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without quota headers the last line says so; --base-url picks the gateway."""
    monkeypatch.setenv("LIVEKIT_INFERENCE_API_KEY", API_KEY)
    monkeypatch.setenv("LIVEKIT_INFERENCE_API_SECRET", API_SECRET)
    assert await cli("doctor", "--base-url", gateway.url) == 0
    out = capsys.readouterr().out
    assert "LIVEKIT_INFERENCE_API_KEY and LIVEKIT_INFERENCE_API_SECRET are set" in out
    assert out.splitlines()[-1].endswith("not reported")


async def test_doctor_wrong_secret_fails_at_the_gateway(
    gateway_env: Gateway, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The token signs locally, the gateway answers 401: FAIL there, the rest skipped."""
    monkeypatch.setenv("LIVEKIT_API_SECRET", WRONG_SECRET)
    assert await cli("doctor") == 1
    out, err = capsys.readouterr()
    status = _status(out)
    assert status["credentials"] == status["token"] == "ok"
    assert status["gateway answers"] == "FAIL"
    assert {status[n] for n in ("round trip", "completion", "rate limits")} == {"skipped"}
    assert "401" in out
    assert gateway_env.bodies == []
    _assert_no_secret(out + err, gateway_env)


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({}, "LIVEKIT_API_KEY"),
        ({"LIVEKIT_API_KEY": API_KEY}, "LIVEKIT_API_SECRET"),
    ],
)
async def test_doctor_missing_credentials(
    gateway: Gateway,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    missing: str,
) -> None:
    """The first check names the missing variable; nothing is sent."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert await cli("doctor", "--base-url", gateway.url) == 1
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    assert first.startswith("FAIL") and missing in first
    assert list(_status(out).values())[1:] == ["skipped"] * 5
    assert gateway.requests == []


@pytest.mark.parametrize(
    ("event", "shown"),
    [
        # "event: error" then the data, as a server writes it (the gateway puts data first;
        # the order of an event's fields does not matter in SSE)
        (
            '{"message": "model overloaded"}\nevent: error',
            "error event in stream: model overloaded",
        ),
        ({"error": {"message": "model overloaded", "code": 503}}, "503: error event in stream"),
    ],
)
async def test_doctor_fails_on_an_error_event(
    gateway_env: Gateway,
    capsys: pytest.CaptureFixture[str],
    event: dict[str, Any] | str,
    shown: str,
) -> None:
    """An error the server reports inside a 200 stream fails the completion with its words."""
    gateway_env.replies.append(Reply(events=[event]))
    assert await cli("doctor") == 1
    out = capsys.readouterr().out
    status = _status(out)
    assert status["completion"] == "FAIL" and status["rate limits"] == "skipped"
    failed = next(line for line in out.splitlines() if line.startswith("FAIL"))
    assert shown in failed and "model overloaded" in failed


async def test_doctor_unreachable_gateway(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A gateway that does not answer fails its check with the URL, never the token."""
    monkeypatch.setenv("LIVEKIT_API_KEY", API_KEY)
    monkeypatch.setenv("LIVEKIT_API_SECRET", API_SECRET)
    assert await cli("doctor", "--base-url", "http://127.0.0.1:9/v1", "--timeout", "2") == 1
    out = capsys.readouterr().out
    assert _status(out)["gateway answers"] == "FAIL" and "http://127.0.0.1:9/v1/models" in out
    assert "Bearer" not in out and API_SECRET not in out


# --- the real local engine -------------------------------------------------------------------


@needs_engine
async def test_serve_local_prints_its_url_and_stops(capsys: pytest.CaptureFixture[str]) -> None:
    """serve-local --duration: the base URL, model and log on stdout, then a clean exit 0."""
    assert await cli("serve-local", "--duration", "1") == 0
    out, err = capsys.readouterr()
    assert "base_url: http://127.0.0.1:" in out and LOCAL_MODEL_ID in out and "log:" in out
    assert "stopped" in err


@needs_engine
async def test_serve_local_sigterm_serves_then_stops() -> None:
    """As a user runs it: the printed URL answers, SIGTERM stops it (exit 0), port closed."""
    import httpx2 as httpx

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "livekit_plugins_hosted",
        "serve-local",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 120)
        base_url = line.decode().removeprefix("base_url:").strip()
        async with httpx.AsyncClient(timeout=10) as client:
            assert (await client.get(f"{base_url}/models")).status_code == 200
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 30) == 0
            with pytest.raises(httpx.TransportError):
                await client.get(f"{base_url}/models")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@needs_engine
async def test_chat_local(capsys: pytest.CaptureFixture[str]) -> None:
    """chat --local starts the engine, streams at most 3 tokens, reports metrics, stops it."""
    assert await cli("chat", "--local", "The sky is", "--max-completion-tokens", "3") == 0
    out, err = capsys.readouterr()
    assert out.strip(), err
    assert f"[metrics] {LOCAL_MODEL_ID}" in err
    tokens = int(err.split(" completion tokens")[0].rsplit(" ", 1)[-1])
    assert 1 <= tokens <= 3


# --- examples/fallback_agent.py --------------------------------------------------------------


async def test_fallback_example_moves_on_to_the_self_hosted_server(gateway_env: Gateway) -> None:
    """The example as written: LiveKit Inference answers 503, the self-hosted server answers."""
    gateway_env.replies += [Reply.error(503, "overloaded"), Reply.error(503, "overloaded")]
    example = os.path.join(os.path.dirname(__file__), "..", "examples", "fallback_agent.py")
    async with Gateway(
        verify_jwt=False, default=lambda _body: Reply.text("From", " my", " server.")
    ) as own:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            example,
            "--base-url",
            own.url,
            "--backend",
            "vllm",
            "Hi",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert out.decode().strip() == "From my server."
    assert f"[answered by] self-hosted vllm at {own.url}" in err.decode()
    assert gateway_env.bodies and own.bodies  # both were asked, in that order
    assert gateway_env.requests[0].at < own.requests[0].at


@pytest.mark.parametrize("example", ["text_agent.py", "fallback_agent.py"])
async def test_examples_name_an_unusable_credential(example: str) -> None:
    """With a secret set but unusable, the examples said 'no LiveKit credentials' (or left
    LiveKit Inference out) and went on without it: they stop with one line naming the
    variable, never its value, before any engine starts."""
    path = os.path.join(os.path.dirname(__file__), "..", "examples", example)
    env = dict(os.environ, LIVEKIT_API_KEY=API_KEY, LIVEKIT_API_SECRET="s\u00e9cret-" + API_SECRET)
    extra = ["--base-url", "http://127.0.0.1:9/v1"] if example == "fallback_agent.py" else []
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        path,
        *extra,
        "Hi",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err_bytes = await asyncio.wait_for(proc.communicate(), 60)
    err = err_bytes.decode()
    assert proc.returncode == 1, err
    assert "LIVEKIT_API_SECRET" in err and "Traceback" not in err, err
    assert "local engine" not in err and out == b""
    _assert_no_secret(err)
