"""The pure fault rules, directly: what a status, its headers and its body mean for a retry."""

from __future__ import annotations

import pytest

from livekit_plugins_hosted import faults

HINT = " (check the key)"


def judge(status: int, headers: dict[str, str] | None = None, body: object = None, **kw: object):
    args: dict[str, object] = {
        "reason": "Too Many Requests",
        "emitted": False,
        "budget": 10.0,
        "retries_left": True,
        "credential_hint": HINT,
    }
    args.update(kw)
    return faults.judge_status(status, headers or {}, body, **args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "body, figures, expected",
    [
        (None, {"credits_used": "10", "credits_limit": "10"}, True),
        (None, {"credits_used": "11.5", "credits_limit": "10"}, True),
        (None, {"credits_used": "9", "credits_limit": "10"}, False),
        (None, {"credits_used": "n/a", "credits_limit": "10"}, False),
        ({"error": {"code": "insufficient_quota", "message": "x"}}, {}, True),
        ({"error": {"type": "billing_hard_limit_reached"}}, {}, True),
        ({"error": {"message": "Your credit balance is too low"}}, {}, True),
        ({"error": {"message": "requests per minute exceeded"}}, {}, False),
        ("payment required", {}, True),
        ("slow down", {}, False),
        (None, {"rpm_used": "60", "rpm_limit": "60"}, False),
    ],
)
def test_credits_exhausted(body: object, figures: dict[str, str], expected: bool) -> None:
    """An out-of-credits 429 retried forever (silent agent), or an RPM 429 treated as final."""
    assert faults.credits_exhausted(body, figures) is expected


@pytest.mark.parametrize(
    "body, expected",
    [
        ({"error": {"message": "bad model"}}, "400: bad model"),
        ({"message": "flat"}, "400: flat"),
        ({"error": "plain words"}, "400: plain words"),
        ("text body", "400: text body"),
        (None, "400: Bad Request"),
        ({"error": {"code": 1}}, "400: Bad Request"),
    ],
)
def test_server_message(body: object, expected: str) -> None:
    """The user would read a field dump instead of the server's own words."""
    assert faults.server_message(400, body, "Bad Request") == expected


def test_read_body() -> None:
    """An error body that is not JSON would crash the error path instead of being shown."""
    assert faults.read_body(b'{"error": {"message": "x"}}') == {"error": {"message": "x"}}
    assert faults.read_body(b"oops \xff") == "oops \ufffd"
    assert faults.read_body(b"") is None


def test_retry_after_forms() -> None:
    """A server's named wait would be ignored, or a malformed one would crash."""
    assert faults.retry_after({"retry-after-ms": "250"}) == 0.25
    assert faults.retry_after({"retry-after": "3"}) == 3.0
    date = "Wed, 25 Nov 2026 00:00:10 GMT"
    assert faults.retry_after({"retry-after": date}, now=1795564800.0) == 10.0
    assert faults.retry_after({"retry-after": "soon"}) is None
    assert faults.retry_after({}) is None


def test_judge_429_waits_within_budget() -> None:
    """A transient 429 with a short Retry-After is retried after that wait."""
    verdict = judge(429, {"retry-after": "2"})
    assert verdict.retryable and verdict.wait == 2.0


def test_judge_429_beyond_budget_or_out_of_retries_is_final() -> None:
    """A wait longer than the budget, or with no retry left, fails at once (fallback moves on)."""
    assert not judge(429, {"retry-after": "60"}).retryable
    assert "budget" in judge(429, {"retry-after": "60"}).message
    assert not judge(429, {"retry-after": "1"}, retries_left=False).retryable


def test_judge_credits_exhausted_is_final() -> None:
    """Exhausted credits are never retried and the message says so."""
    verdict = judge(429, {"retry-after": "1"}, {"error": {"code": "insufficient_quota"}})
    assert not verdict.retryable and "credits exhausted" in verdict.message


def test_judge_after_content_never_retries() -> None:
    """A fault after the agent spoke would be retried and the agent would say it twice."""
    assert not judge(503, reason="Service Unavailable", emitted=True).retryable
    assert judge(503, reason="Service Unavailable").retryable
    assert judge(429, {"retry-after": "1"}, emitted=True).wait == 0.0


@pytest.mark.parametrize("status", [401, 403])
def test_judge_auth_names_the_credential(status: int) -> None:
    """A 401/403 would not say which credential to check."""
    assert judge(status, reason="Unauthorized").message.endswith(HINT)


# -- a refused request field (issue 22, item 15) --------------------------------------------------

BUDGET = "thinking_token_budget"
VLLM_SAYS = (
    "thinking_token_budget is set but reasoning_config is not configured. Please set "
    "--reasoning-parser and/or --reasoning-config to use thinking_token_budget."
)


@pytest.mark.parametrize(
    "body",
    [
        {"error": {"message": VLLM_SAYS, "type": "BadRequestError", "code": 400}},
        {"object": "error", "message": VLLM_SAYS, "code": 400},  # vLLM's older flat form
        {"error": {"message": "Unrecognized request argument supplied", "param": BUDGET}},
        {"error": {"message": "thinking_token_budget: must be at most 8192"}},
        f"400 Bad Request: {VLLM_SAYS}",
    ],
)
def test_a_field_named_as_refused(body: object) -> None:
    """vLLM without a reasoning parser names the budget as what it refuses: it is dropped."""
    assert faults.refuses_field(body, BUDGET, 24576)


@pytest.mark.parametrize(
    "body",
    [
        # a proxy's or a server's echo of the whole request, in its forms
        {"error": {"message": 'bad request; you sent {"model":"m","thinking_token_budget":24576}'}},
        {"error": {"message": "you sent {'thinking_token_budget': 24576, 'stream': True}"}},
        {"error": {"message": 'payload: "{\\"thinking_token_budget\\": 24576}" rejected'}},
        {"error": {"message": "rejected: thinking_token_budget=24576&stream=true"}},
        # the request repeated beside another reason
        {"error": {"message": "context length exceeded", "request": {BUDGET: 24576}}},
        {"error": {"message": "max_tokens too large"}, BUDGET: 24576},
        # another field whose name holds this one
        {"error": {"message": "max_thinking_token_budget is not supported"}},
        {"error": {"message": "unknown field thinking_token_budget_v2"}},
        {"error": {"param": "max_tokens", "message": "too large"}},
        None,
        {"error": {"message": 400}},
    ],
)
def test_a_400_that_repeats_the_request_refuses_no_field(body: object) -> None:
    """Any 400 whose body repeated the request was taken for a refused budget: the request
    was sent again without it, a WARNING blamed --reasoning-parser, and the budget was
    dropped for the LLM's life."""
    assert not faults.refuses_field(body, BUDGET, 24576)


def test_refused_field_is_read_in_linear_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hostile message that repeats the name (each an echo) is read once: 4x the text is
    4x the checks, each over a bounded window."""
    calls: list[int] = []
    echoed = faults._echoed

    def counted(message: str, end: int, value: str) -> bool:
        calls.append(end)
        return echoed(message, end, value)

    monkeypatch.setattr(faults, "_echoed", counted)
    for n in (1000, 4000):
        calls.clear()
        body = {"error": {"message": f'"{BUDGET}": 24576, ' * n}}
        assert not faults.refuses_field(body, BUDGET, 24576)
        assert len(calls) == n
