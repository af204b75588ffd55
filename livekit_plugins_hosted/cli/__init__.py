"""The ``livekit-hosted`` command line (also ``python -m livekit_plugins_hosted``).

Commands, one module each, over the library's own parts::

    models        the model catalogue and families; --match ID names an id's family
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
import io
import logging
import os
import sys
import traceback
import typing
from collections.abc import Awaitable, Callable, Iterator, Sequence

from livekit.agents import APIError

from ..version import __version__
from . import chat, doctor, models, serve_local
from .errors import describe, is_retry_warning

__all__ = ["build_parser", "main", "run"]

Run = Callable[[argparse.Namespace], Awaitable[int]]


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
    """The ``livekit-hosted`` argument parser; each command's ``run`` is its ``args.run``."""
    parser = _Parser(
        prog=_prog(),
        description="Open-weight LLMs on LiveKit Inference, self-hosted servers and the "
        "embedded local engine.",
        epilog="Exit codes: 0 ok, 1 request or check failed, 2 bad usage or configuration "
        "(nothing sent), 130 interrupted.",
    )
    parser.set_defaults(prog=parser.prog)
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

    def add(
        name: str,
        summary: str,
        description: str,
        configure: Callable[[argparse.ArgumentParser], None],
        run: Run,
    ) -> None:
        command = sub.add_parser(name, parents=[common], help=summary, description=description)
        configure(command)
        command.set_defaults(run=run)

    add("models", models.HELP, models.DESCRIPTION, models.configure, models.run)
    add("chat", chat.HELP, chat.DESCRIPTION, chat.configure, chat.run)
    add("doctor", doctor.HELP, doctor.DESCRIPTION, doctor.configure, doctor.run)
    add(
        "serve-local",
        serve_local.HELP,
        serve_local.DESCRIPTION,
        serve_local.configure,
        serve_local.run,
    )
    return parser


async def run(args: argparse.Namespace) -> int:
    """Run a parsed command and return its exit code; errors propagate (``main`` reports them)."""
    command: Run = args.run
    return await command(args)


class _OneLineHandler(logging.Handler):
    """Log records as single ``level: message`` lines on stderr; tracebacks only with --debug.

    Without --debug the framework's warning before each retry is left out: ``chat`` prints
    its own short line for it (the warning's text is a field dump of the error).
    """

    def __init__(self, debug: bool) -> None:
        super().__init__(logging.DEBUG if debug else logging.WARNING)
        self._debug = debug
        self._full = logging.Formatter("%(levelname)s %(name)s: %(message)s")
        if not debug:
            self.addFilter(lambda record: not is_retry_warning(record))

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


_KEY_FLAG = "--api-key"


def _mask_keys(text: str, argv: Sequence[str]) -> str:
    """``text`` with every value given to ``--api-key`` (or a prefix argparse takes for it,
    ``--api``) masked: a usage error ("unrecognized arguments: --api-key sk-...", a command
    that takes no key) repeats the words it could not use."""
    keys: list[str] = []
    for i, word in enumerate(argv):
        flag, eq, value = word.partition("=")
        if len(flag) < 5 or not _KEY_FLAG.startswith(flag):
            continue
        if eq:
            keys.append(value)
        elif i + 1 < len(argv):
            keys.append(argv[i + 1])
    for key in sorted(filter(None, keys), key=len, reverse=True):
        text = text.replace(key, "***")
    return text


def _fail(e: BaseException, code: int, debug: bool, *, prefix: str = "") -> int:
    if debug:
        traceback.print_exception(e)
    print(f"error: {prefix}{describe(e)}", file=sys.stderr, flush=True)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the command, return the exit code.

    Never raises for a user-facing failure: each is reported as one ``error: ...`` line.
    """
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):
            args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version and usage errors: argparse has written them
        sys.stderr.write(_mask_keys(said.getvalue(), argv))
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    sys.stderr.write(said.getvalue())
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
