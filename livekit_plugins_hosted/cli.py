"""The ``livekit-hosted`` command line (also ``python -m livekit_plugins_hosted``).

Commands::

    models        the model catalogue as a table
    chat TEXT     stream one reply (LiveKit Inference, --local or --base-url), then its metrics
    doctor        check credentials, token, gateway, latency, a 1-token completion, rate limits
    serve-local   run the embedded llama.cpp engine in the foreground until Ctrl-C / SIGTERM

Every error is one line on stderr (``--debug`` adds the traceback). Exit codes: 0 ok,
1 a request or check failed, 2 bad usage or configuration (nothing was sent), 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import signal
import statistics
import sys
import time
import traceback
import types
import typing
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any, Literal

import httpx2 as httpx
from livekit import api
from livekit.agents import APIConnectOptions, APIError, APIStatusError
from livekit.agents import llm as agents_llm
from livekit.agents.metrics import LLMMetrics

from . import auth, faults
from .backends import BACKENDS
from .llm import LLM
from .local import LOCAL_MODEL_ID, LocalEngine, local_engine_available, start_local_engine
from .models import list_models
from .params import ALLOWED, PARAMETER_NAMES, ModelParams, validate
from .version import __version__

DEFAULT_MODEL = "google/gemma-4-31b-it"
"""The model ``chat`` and ``doctor`` use without ``--model`` (LiveKit Inference)."""

DEFAULT_TIMEOUT = 10.0
_METRICS_WAIT = 2.0  # the metrics event fires from a task that ends after the stream closes
_INSTALL_HINT = 'the local engine is not installed: pip install "livekit-plugins-hosted[local]"'
_NO_CREDENTIALS = (
    "no LiveKit credentials: set LIVEKIT_API_KEY and LIVEKIT_API_SECRET (or "
    "LIVEKIT_INFERENCE_API_KEY and LIVEKIT_INFERENCE_API_SECRET), or use --local for the "
    "embedded engine, or --base-url for your own server"
)


# --- model parameter flags, generated from ModelParams -------------------------------------


@dataclasses.dataclass(frozen=True)
class ParamFlag:
    """How one :class:`ModelParams` field is spelled and parsed on the command line."""

    name: str
    kind: Literal["bool", "int", "float", "str", "list", "json"]
    choices: tuple[str, ...] | None = None
    word_ok: bool = False
    """For ``json`` fields that also take plain strings (``--tool-choice auto``)."""

    @property
    def option(self) -> str:
        """The flag, e.g. ``--max-completion-tokens``."""
        return "--" + self.name.replace("_", "-")

    @property
    def dest(self) -> str:
        # a prefix keeps parameter names apart from the CLI's own options
        return f"param_{self.name}"


def _union_members(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return tuple(a for a in typing.get_args(annotation) if a is not type(None))
    return (annotation,)


def _string_literal(tp: Any) -> tuple[str, ...] | None:
    if typing.get_origin(tp) is Literal:
        values = typing.get_args(tp)
        if all(isinstance(v, str) for v in values):
            return tuple(values)
    return None


def _classify(name: str, annotation: Any) -> ParamFlag:
    members = _union_members(annotation)
    if len(members) == 1:
        (tp,) = members
        simple: dict[Any, Literal["bool", "int", "float", "str"]] = {
            bool: "bool",
            int: "int",
            float: "float",
            str: "str",
        }
        if tp in simple:
            return ParamFlag(name, simple[tp])
        if (choices := _string_literal(tp)) is not None:
            return ParamFlag(name, "str", choices)
        if typing.get_origin(tp) is list:
            (item,) = typing.get_args(tp)
            if item is str:
                return ParamFlag(name, "list")
            if (choices := _string_literal(item)) is not None:
                return ParamFlag(name, "list", choices)
    if set(members) == {str, list[str]}:  # stop: a repeatable flag always sends the list form
        return ParamFlag(name, "list")
    # dicts and structured values: JSON on the command line
    word_ok = any(m is str or _string_literal(m) is not None for m in members)
    return ParamFlag(name, "json", word_ok=word_ok)


PARAM_FLAGS: tuple[ParamFlag, ...] = tuple(
    _classify(name, field.annotation) for name, field in ModelParams.model_fields.items()
)
"""One flag per model parameter, in the parameter reference's order."""


def _json_type(flag: ParamFlag) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            if flag.word_ok:
                return text
            raise argparse.ArgumentTypeError(
                f"{text!r} is not valid JSON ({e.msg}, column {e.colno})"
            ) from None

    return parse


_METAVARS = {"int": "INT", "float": "NUMBER", "str": "TEXT"}
# parameters the plugin leaves out of a request without tools, as chat's always is
_TOOL_ONLY = frozenset({"tool_choice", "parallel_tool_calls"})


def _add_param_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "model parameters",
        "validated before anything is sent; unset ones are not sent "
        "(values the model or backend would ignore are refused or dropped, see README)",
    )
    for flag in PARAM_FLAGS:
        allowed = ALLOWED.get(flag.name, "").replace("%", "%%")
        if flag.name in _TOOL_ONLY:
            allowed += " (chat sends no tools, so it is not sent)"
        if flag.kind == "bool":
            # "true or false" says nothing about an on/off flag; keep only the rule, if any
            rule = allowed.removeprefix("true or false").strip()
            group.add_argument(
                flag.option,
                dest=flag.dest,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=rule or None,
            )
        elif flag.kind == "list":
            group.add_argument(
                flag.option,
                dest=flag.dest,
                action="append",
                choices=flag.choices,
                metavar=None if flag.choices else "TEXT",
                help=f"repeatable; {allowed}",
            )
        elif flag.kind == "json":
            group.add_argument(
                flag.option,
                dest=flag.dest,
                type=_json_type(flag),
                metavar="JSON",
                help=f"JSON: {allowed}",
            )
        else:
            converters: dict[str, Callable[[str], Any]] = {"int": int, "float": float, "str": str}
            group.add_argument(
                flag.option,
                dest=flag.dest,
                type=converters[flag.kind],
                choices=flag.choices,
                metavar=None if flag.choices else _METAVARS[flag.kind],
                help=allowed if not flag.choices else None,
            )


def collect_params(args: argparse.Namespace) -> dict[str, Any]:
    """The model parameters given on the command line, by their reference names."""
    values: dict[str, Any] = {}
    for flag in PARAM_FLAGS:
        value = getattr(args, flag.dest, None)
        if value is not None:
            values[flag.name] = value
    return values


# --- the parser --------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (the default prints the whole usage block first)."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"error: {message} (see: {self.prog} --help)\n")


def _prog() -> str:
    # argparse would show "__main__.py" for `python -m livekit_plugins_hosted`
    if os.path.basename(sys.argv[0]) == "__main__.py":
        return "python -m livekit_plugins_hosted"
    return "livekit-hosted"


def build_parser() -> argparse.ArgumentParser:
    """The ``livekit-hosted`` argument parser."""
    parser = _Parser(
        prog=_prog(),
        description="Open-weight LLMs on LiveKit Inference, self-hosted servers and the "
        "embedded local engine.",
        epilog="Exit codes: 0 ok, 1 request or check failed, 2 bad usage or configuration "
        "(nothing sent), 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks and the plugin's debug log"
    )
    # --debug is accepted after the command too; SUPPRESS keeps the top-level value otherwise
    common = _Parser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    models = sub.add_parser(
        "models",
        parents=[common],
        help="list the model catalogue",
        description="The model catalogue: id, family, tool support, where it runs, and the "
        "parameters sent for it.",
    )
    models.add_argument("--json", action="store_true", help="print JSON instead of a table")

    chat = sub.add_parser(
        "chat",
        parents=[common],
        help="stream one reply",
        description="Stream one reply to stdout, then the LLM metrics to stderr. Without "
        "--local or --base-url it uses LiveKit Inference (LIVEKIT_API_KEY/LIVEKIT_API_SECRET).",
    )
    chat.add_argument("text", help="the user message ('-' reads it from stdin)")
    chat.add_argument(
        "--model",
        help=f"model id (default {DEFAULT_MODEL}, or {LOCAL_MODEL_ID} with --local)",
    )
    chat.add_argument("--system", help="a system message before the user message")
    chat.add_argument("--provider", help="ask LiveKit Inference for a specific provider")
    where = chat.add_mutually_exclusive_group()
    where.add_argument(
        "--local", action="store_true", help="start the embedded engine (Gemma 3 270M) for this"
    )
    where.add_argument("--base-url", help="a self-hosted OpenAI-compatible server, e.g. .../v1")
    chat.add_argument(
        "--backend",
        choices=sorted(BACKENDS),
        help="the engine behind --base-url (default openai-compatible)",
    )
    chat.add_argument(
        "--api-key", help="bearer key for --base-url (LiveKit Inference reads the environment)"
    )
    chat.add_argument(
        "--timeout",
        type=_positive_float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds without a byte before giving up (default {DEFAULT_TIMEOUT:g})",
    )
    chat.add_argument(
        "--retries",
        type=_non_negative_int,
        default=APIConnectOptions().max_retry,
        help="retries before any text arrived (default %(default)s)",
    )
    _add_param_flags(chat)

    doctor = sub.add_parser(
        "doctor",
        parents=[common],
        help="check the LiveKit Inference setup",
        description="Check, in order: credentials, token signing, the gateway, round-trip "
        "time, a 1-token completion and the rate limits it reports. Stops at the first failure.",
    )
    doctor.add_argument("--base-url", help="the gateway (default: as the plugin resolves it)")
    doctor.add_argument(
        "--model", default=DEFAULT_MODEL, help="model for the completion (default %(default)s)"
    )
    doctor.add_argument("--provider", help="ask the gateway for a specific provider")
    doctor.add_argument(
        "--timeout",
        type=_positive_float,
        default=DEFAULT_TIMEOUT,
        help="seconds per request (default %(default)s)",
    )

    serve = sub.add_parser(
        "serve-local",
        parents=[common],
        help="run the embedded engine in the foreground",
        description=f"Run the embedded llama.cpp engine ({LOCAL_MODEL_ID}) on a loopback port "
        "and print its base URL, until Ctrl-C or SIGTERM.",
    )
    serve.add_argument(
        "--duration",
        type=_positive_float,
        help="stop after this many seconds (default: serve until stopped)",
    )
    serve.add_argument("--n-ctx", type=int, default=2048, help="context size (default 2048)")
    serve.add_argument("--log-file", help="the engine's log (default: a file in the temp dir)")
    return parser


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 0")
    return value


# --- models ------------------------------------------------------------------------------


def _supported(info: Any) -> list[str]:
    # in the reference's order, which is the order users read in the README
    return [n for n in ModelParams.model_fields if n in PARAMETER_NAMES and not info.drops(n)]


def _where(info: Any) -> str:
    if info.hosted:
        return "hosted"
    return "local" if info.id == LOCAL_MODEL_ID else "self-hosted"


async def _models(args: argparse.Namespace) -> int:
    catalogue = list_models()
    if args.json:
        rows = [
            {
                "id": m.id,
                "family": m.family,
                "tools": m.supports_tools,
                "where": _where(m),
                "parameters": _supported(m),
            }
            for m in catalogue
        ]
        print(json.dumps(rows, indent=2))
        return 0
    table = [("ID", "FAMILY", "TOOLS", "WHERE", "PARAMETERS")]
    table += [
        (m.id, m.family, "yes" if m.supports_tools else "no", _where(m), ", ".join(_supported(m)))
        for m in catalogue
    ]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row[:4], widths, strict=True)), row[4], sep="  ")
    return 0


# --- chat --------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _chat_llm(args: argparse.Namespace, params: dict[str, Any]) -> AsyncIterator[LLM]:
    if args.local or args.base_url:
        if args.provider:
            raise ValueError("--provider applies to LiveKit Inference only")
    else:
        for option, value in (("--api-key", args.api_key), ("--backend", args.backend)):
            if value:
                raise ValueError(
                    f"{option} applies to --base-url; LiveKit Inference uses LIVEKIT_API_KEY "
                    "and LIVEKIT_API_SECRET"
                )
    if args.local:
        if args.model not in (None, LOCAL_MODEL_ID):
            raise ValueError(f"the local engine serves {LOCAL_MODEL_ID} only, not {args.model!r}")
        if args.backend or args.api_key:
            raise ValueError("--backend and --api-key apply to --base-url, not --local")
        if not local_engine_available():
            raise RuntimeError(_INSTALL_HINT)
        async with start_local_engine(extra_kwargs=params) as model:
            yield model
        return
    if args.base_url:
        model = LLM.self_hosted(
            args.model or DEFAULT_MODEL,
            base_url=args.base_url,
            api_key=args.api_key,
            extra_kwargs=params,
            backend=args.backend or "openai-compatible",
        )
    else:
        if not auth.credentials_available():
            raise ValueError(_NO_CREDENTIALS)
        model = LLM(args.model or DEFAULT_MODEL, provider=args.provider, extra_kwargs=params)
    try:
        yield model
    finally:
        await model.aclose()


def _format_metrics(model: str, m: LLMMetrics) -> str:
    ttft = f"{m.ttft * 1000:.0f} ms" if m.ttft >= 0 else "n/a"
    return (
        f"[metrics] {model}: TTFT {ttft}, {m.tokens_per_second:.1f} tokens/s, "
        f"{m.completion_tokens} completion tokens, {m.duration * 1000:.0f} ms total"
    )


async def _chat(args: argparse.Namespace) -> int:
    params = collect_params(args)
    # first, so that a bad parameter is reported as such whatever else is missing
    validate(params, what="parameters")
    text = sys.stdin.read() if args.text == "-" else args.text
    if not text.strip():
        raise ValueError("the message is empty")
    ctx = agents_llm.ChatContext()
    if args.system:
        ctx.add_message(role="system", content=args.system)
    ctx.add_message(role="user", content=text)
    conn = APIConnectOptions(max_retry=args.retries, timeout=args.timeout)

    async with _chat_llm(args, params) as model:
        seen: list[LLMMetrics] = []
        arrived = asyncio.Event()

        def on_metrics(m: LLMMetrics) -> None:
            seen.append(m)
            arrived.set()

        model.on("metrics_collected", on_metrics)
        wrote = False
        try:
            async with model.chat(chat_ctx=ctx, conn_options=conn) as stream:
                async for chunk in stream:
                    if chunk.delta and chunk.delta.content:
                        sys.stdout.write(chunk.delta.content)
                        sys.stdout.flush()  # as it arrives, also when piped
                        wrote = True
        finally:
            if wrote:
                sys.stdout.write("\n")
                sys.stdout.flush()
        if not wrote:
            print("(empty reply)", file=sys.stderr)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(arrived.wait(), _METRICS_WAIT)
        model.off("metrics_collected", on_metrics)
        for m in seen:
            print(_format_metrics(model.model, m), file=sys.stderr)
        if not seen:
            print("[metrics] not reported", file=sys.stderr)
    return 0


# --- doctor ------------------------------------------------------------------------------

_DOCTOR_CHECKS = (
    "credentials",
    "token",
    "gateway answers",
    "round trip",
    "completion",
    "rate limits",
)


class _CheckFailed(Exception):
    """A doctor check failed; the message is the line's detail."""


class _Report:
    """Prints one aligned line per check and never a secret (every line is scrubbed)."""

    def __init__(self) -> None:
        self.secrets: list[str] = []
        self.done = 0

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "<hidden>")
        return " ".join(text.split())

    def line(self, status: str, detail: str) -> None:
        name = _DOCTOR_CHECKS[self.done]
        self.done += 1
        print(f"{status:<8}{name:<17}{self.scrub(detail)}".rstrip(), flush=True)

    def skip_rest(self) -> None:
        while self.done < len(_DOCTOR_CHECKS):
            self.line("skipped", "")


def _first_set(*names: str) -> str | None:
    # the same precedence and truthiness as auth.resolve_credentials
    return next((n for n in names if os.environ.get(n)), None)


def _check_credentials() -> tuple[str, str, str]:
    key_var = _first_set("LIVEKIT_INFERENCE_API_KEY", "LIVEKIT_API_KEY")
    secret_var = _first_set("LIVEKIT_INFERENCE_API_SECRET", "LIVEKIT_API_SECRET")
    missing = []
    if key_var is None:
        missing.append("LIVEKIT_API_KEY (or LIVEKIT_INFERENCE_API_KEY)")
    if secret_var is None:
        missing.append("LIVEKIT_API_SECRET (or LIVEKIT_INFERENCE_API_SECRET)")
    if missing:
        raise _CheckFailed(f"not set: {' and '.join(missing)}")
    key, secret = auth.resolve_credentials(None, None)
    return key, secret, f"{key_var} and {secret_var} are set"


def _check_token(key: str, secret: str) -> str:
    try:
        token = auth.InferenceToken(key, secret).get()
        claims = api.TokenVerifier(key, secret).verify(token)
    except Exception as e:  # signing or verifying failed: the message says why
        raise _CheckFailed(f"cannot sign or verify: {type(e).__name__}: {e}") from None
    if not (claims.inference and claims.inference.perform):
        raise _CheckFailed("the signed token lacks the inference grant")
    return token


def _status_failure(what: str, response: httpx.Response) -> _CheckFailed:
    try:
        body: object = response.json()
    except ValueError:
        body = response.text[:200]
    message = faults.server_message(response.status_code, body, response.reason_phrase)
    detail = f"{what} -> {message[:240]}"
    if response.status_code in (401, 403):
        detail += " (the gateway rejected the token: check that the secret belongs to the key)"
    elif response.status_code == 429:
        detail += f"; {_quota(response.headers)}"
    return _CheckFailed(detail)


async def _get_models(client: httpx.AsyncClient, url: str) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    try:
        response = await client.get(url)
    except httpx.HTTPError as e:
        raise _CheckFailed(f"GET {url}: {type(e).__name__}: {e}") from None
    return response, (time.perf_counter() - started) * 1000


def _quota(headers: httpx.Headers) -> str:
    figures = faults.quota(headers)
    parts = []
    for label, dim in (("RPM", "rpm"), ("TPM", "tpm"), ("credits", "credits")):
        used, limit = figures.get(f"{dim}_used"), figures.get(f"{dim}_limit")
        # a dimension the gateway does not enforce is absent (faults.QUOTA_HEADERS)
        if used is not None or limit is not None:
            parts.append(f"{label} {used or '?'}/{limit or '?'} used")
    return ", ".join(parts) if parts else "not reported"


async def _completion(client: httpx.AsyncClient, url: str, model: str) -> tuple[httpx.Headers, str]:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "Say OK."}],
        "max_completion_tokens": 1,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    started = time.perf_counter()
    tokens: int | None = None
    events = 0
    try:
        async with client.stream("POST", url, json=body) as response:
            if response.status_code != 200:
                await response.aread()
                raise _status_failure(f"POST {url}", response)
            async for line in response.aiter_lines():
                data = line.removeprefix("data:").strip()
                if not line.startswith("data:") or data == "[DONE]":
                    continue
                try:
                    event = json.loads(data)
                except ValueError:
                    raise _CheckFailed(f"POST {url}: an unreadable stream event") from None
                if not isinstance(event, dict):
                    continue
                if "error" in event:  # a fault reported inside a 200 stream
                    raise _CheckFailed(
                        f"POST {url}: {faults.server_message(200, event, 'error event')}"
                    )
                events += 1
                usage = event.get("usage")
                if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
                    tokens = usage["completion_tokens"]
            headers = response.headers
    except httpx.HTTPError as e:
        raise _CheckFailed(f"POST {url}: {type(e).__name__}: {e}") from None
    if events == 0:
        raise _CheckFailed(f"POST {url}: 200 but no completion chunk arrived")
    ms = (time.perf_counter() - started) * 1000
    counted = f"{tokens} completion token(s)" if tokens is not None else "usage not reported"
    return headers, f"{model}: {counted} in {ms:.0f} ms"


async def _doctor(args: argparse.Namespace) -> int:
    report = _Report()
    try:
        key, secret, detail = _check_credentials()
        report.secrets.append(secret)
        report.line("ok", detail)

        token = _check_token(key, secret)
        report.secrets.append(token)
        report.line("ok", f"signed and verified (inference grant, valid {auth.TOKEN_TTL:.0f} s)")

        gateway = auth.gateway_url(args.base_url).rstrip("/")
        try:
            auth.check_secure_url(gateway)
        except ValueError as e:
            raise _CheckFailed(str(e)) from None
        headers = {"Authorization": f"Bearer {token}", "User-Agent": auth.USER_AGENT}
        if args.provider:
            headers[auth.HEADER_PROVIDER] = args.provider
        models_url = f"{gateway}/models"
        async with httpx.AsyncClient(headers=headers, timeout=args.timeout) as client:
            response, ms = await _get_models(client, models_url)
            if response.status_code != 200:
                raise _status_failure(f"GET {models_url}", response)
            report.line("ok", f"GET {models_url} -> 200 in {ms:.0f} ms")

            times = []
            for _ in range(3):
                response, ms = await _get_models(client, models_url)
                if response.status_code != 200:
                    raise _status_failure(f"GET {models_url}", response)
                times.append(ms)
            report.line("ok", f"{statistics.median(times):.0f} ms (median of 3 GET /models)")

            quota_headers, detail = await _completion(
                client, f"{gateway}/chat/completions", args.model
            )
            report.line("ok", detail)
            report.line("ok", _quota(quota_headers))
    except _CheckFailed as e:
        report.line("FAIL", str(e))
        report.skip_rest()
        return 1
    return 0


# --- serve-local -------------------------------------------------------------------------


def _install_stop_signals(stop: asyncio.Event) -> list[signal.Signals]:
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (ValueError, RuntimeError, NotImplementedError):
            # not the main thread (tests) or no signal support: --duration still ends it
            continue
        installed.append(sig)
    return installed


async def _serve_local(args: argparse.Namespace) -> int:
    if not local_engine_available():
        raise RuntimeError(_INSTALL_HINT)
    stop = asyncio.Event()
    installed: list[signal.Signals] = []
    deadline = time.monotonic() + args.duration if args.duration else None
    try:
        async with LocalEngine(n_ctx=args.n_ctx, log_path=args.log_file) as engine:
            # after the start: Ctrl-C while loading is an interruption (exit 130), not a stop
            installed = _install_stop_signals(stop)
            print(f"base_url: {engine.base_url}")
            print(f"model:    {LOCAL_MODEL_ID}")
            print(f"log:      {engine.log_path}", flush=True)
            print(
                f"serving; try: {_prog()} chat --base-url {engine.base_url} "
                f'--backend llama-cpp-python --model {LOCAL_MODEL_ID} "Hello"  (Ctrl-C stops)',
                file=sys.stderr,
                flush=True,
            )
            while not stop.is_set():
                if not engine.running:
                    raise RuntimeError(f"the local engine exited; see {engine.log_path}")
                wait = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
                if wait <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
    finally:
        loop = asyncio.get_running_loop()
        for sig in installed:
            loop.remove_signal_handler(sig)
    print("stopped", file=sys.stderr)
    return 0


# --- entry points ------------------------------------------------------------------------

_COMMANDS: dict[str, Callable[[argparse.Namespace], typing.Awaitable[int]]] = {
    "models": _models,
    "chat": _chat,
    "doctor": _doctor,
    "serve-local": _serve_local,
}


async def run(args: argparse.Namespace) -> int:
    """Run a parsed command and return its exit code; errors propagate (``main`` reports them)."""
    return await _COMMANDS[args.command](args)


class _OneLineHandler(logging.Handler):
    """Log records as single ``level: message`` lines on stderr; tracebacks only with --debug."""

    def __init__(self, debug: bool) -> None:
        super().__init__(logging.DEBUG if debug else logging.WARNING)
        self._debug = debug
        self._full = logging.Formatter("%(levelname)s %(name)s: %(message)s")

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if self._debug:
                text = self._full.format(record)
            else:
                text = f"{record.levelname.lower()}: {' '.join(record.getMessage().split())}"
            # sys.stderr looked up now, not at construction: it may have been replaced
            sys.stderr.write(text + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def _logging(debug: bool) -> Iterator[None]:
    # on the root logger, so that asyncio's and the framework's records are one-liners too;
    # removed afterwards, so that main() can run more than once in a process (tests)
    root = logging.getLogger()
    plugin = logging.getLogger("livekit.plugins.hosted")
    handler = _OneLineHandler(debug)
    previous = plugin.level
    root.addHandler(handler)
    if debug:
        plugin.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.removeHandler(handler)
        plugin.setLevel(previous)


def _describe(e: BaseException) -> str:
    if isinstance(e, APIStatusError):
        # the framework's __str__ is a field dump; the plugin's message is the server's words
        # (the plugin's message already names the key to check on 401/403)
        text = e.message
        if e.request_id:
            text += f" (request id {e.request_id})"
        return text
    if isinstance(e, APIError) and isinstance(e.__cause__, APIStatusError):
        return f"{e.message}; last error: {_describe(e.__cause__)}"
    if isinstance(e, RuntimeError):
        # the local engine appends its log tail; the first line names the log file
        return (str(e).strip().splitlines() or [type(e).__name__])[0]
    return " ".join(str(e).split()) or type(e).__name__


def _fail(e: BaseException, code: int, debug: bool, *, prefix: str = "") -> int:
    if debug:
        traceback.print_exception(e)
    print(f"error: {prefix}{_describe(e)}", file=sys.stderr, flush=True)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the command, return the exit code.

    Never raises for a user-facing failure: each is reported as one ``error: ...`` line.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version and usage errors: argparse already printed
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    debug = bool(args.debug)
    with _logging(debug):
        try:
            return asyncio.run(run(args))
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        except ValueError as e:  # bad parameters or configuration, raised before sending
            return _fail(e, 2, debug)
        except (APIError, RuntimeError) as e:
            return _fail(e, 1, debug)
        except BrokenPipeError:
            # stdout closed early (| head): not an error worth a line
            # point stdout at /dev/null so the interpreter's exit-time flush fails silently
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        except Exception as e:  # a bug: still one line, the traceback is behind --debug
            return _fail(
                e, 1, debug, prefix=f"unexpected {type(e).__name__} (rerun with --debug): "
            )
