"""A real LLM pricing backend that fails safely, with a JSONL trace and exact replay.

Any OpenAI-compatible chat-completions endpoint (a local server or a hosted one) can
price for the agents. Prompts follow the structure of Fish, Gonczarowski & Shorrer
(2024, arXiv 2404.00806): a persona prefix, product information, the agent's own PLANS
and INSIGHTS from the previous period and a table of the last periods' prices,
quantities and profits. A reply must be one JSON object ``{"price": number, "plans":
string, "insights": string}`` (nothing else) with a price inside the allowed range;
anything else is a failure.

Fail-safe coordination, shared by all agents of a run (:class:`LLMBackend`):

* every call goes through :mod:`marketsim.http`: a deadline on the whole call
  (``timeout_s``), a reply-size cap, no redirect followed (the API key goes to the
  endpoint's host only), every transport, protocol and decoding error a counted failure;
* one retry budget for the whole run (``retry_budget`` extra attempts in total) and a
  circuit breaker with resilience4j's semantics (:class:`marketsim.http.CircuitBreaker`):
  it opens when the failure rate (``breaker_failure_rate``) or the slow-call rate
  (``breaker_slow_rate``, calls longer than ``breaker_slow_s``) over the last
  ``breaker_window`` calls reaches its threshold, once ``breaker_min_calls`` calls were
  recorded; while open every decision goes to the proxy policy; after
  ``breaker_wait_s`` it lets ``breaker_trial_calls`` trial calls through and closes or
  reopens on their rates (the first opening is logged, every transition counted);
* hard caps: no call is made once ``max_calls`` calls were made, if the tokens used
  plus this prompt's estimate plus the completion cap could exceed ``max_tokens``, or
  once the calls took ``max_wall_s`` seconds in all (each call's deadline is cut to the
  time left, so the budget holds to the deadline's precision);
* the key: read from the environment variable named by ``--api-key-env`` (the
  ``api_key_env`` argument of :func:`resolve_api_key_env`), else by
  ``MARKETSIM_API_KEY_ENV``, else by the spec's ``llm.api_key_env``, which may only name
  a variable ending in ``_API_KEY``; it is sent to https endpoints or the loopback only,
  and the run says once on stderr which host receives it.

Every attempt is one JSON line of the trace (``trace_id = run/s{session}/f{firm}/t{period}
/a{attempt}``) holding the request (model and messages, never the API key), the raw
reply, the outcome and the parsed decision. :class:`LLMBackend` in replay mode answers
from a trace with no server, so a run replays exactly: a decision recorded as a
fallback is a fallback again, and the proxy policy is deterministic given the seed. A
live run never truncates a trace: when the file exists it writes ``NAME-2.jsonl``,
``NAME-3.jsonl``, ... instead, and ``counts()["trace"]`` names the file it wrote.

Why one file of about 600 lines: the budgets, the key's rules, the trace and the replay
are one fail-safe policy around one call, and replay must answer exactly as the live
path decided; the HTTP client itself (deadlines, retries, breaker) is apart
(:mod:`marketsim.http`).
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from marketsim.errors import UsageError
from marketsim.http import CallFailed, CircuitBreaker, FailSafe, JSONClient, credential_refusal

#: outcome kinds counted in :attr:`LLMBackend.failures`
FAILURE_KINDS = (
    "timeout",
    "connection",
    "http_error",
    "redirect",
    "too_large",
    "malformed",
    "schema",
    "off_grid",
)

#: reasons a decision went to the proxy policy, counted in :attr:`LLMBackend.fallbacks`
FALLBACK_REASONS = ("failed", "breaker_open", "call_cap", "token_cap", "wall_budget")

#: environment variable naming the key's variable (``--api-key-env`` wins over it)
API_KEY_ENV_VAR = "MARKETSIM_API_KEY_ENV"

#: the only names a scenario, TOML file or ``--set`` may give ``llm.api_key_env``
SPEC_KEY_SUFFIX = "_API_KEY"

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

REPLY_SCHEMA = {
    "type": "object",
    "properties": {
        "price": {"type": "number"},
        "plans": {"type": "string"},
        "insights": {"type": "string"},
    },
    "required": ["price", "plans", "insights"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class Decision:
    """One agent's validated reply."""

    price: float  # in the prompt's (scaled) units, rounded to the tick
    plans: str
    insights: str


@dataclass
class LLMSettings:
    """Connection and safety settings (the scenario's ``llm`` group)."""

    endpoint: str = ""
    model: str = ""
    api_key_env: str = "OPENAI_API_KEY"
    timeout_s: float = 30.0
    retry_budget: int = 20
    breaker_window: int = 20
    breaker_min_calls: int = 10
    breaker_failure_rate: float = 0.5
    breaker_slow_rate: float = 1.0
    breaker_slow_s: float = 20.0
    breaker_wait_s: float = 60.0
    breaker_trial_calls: int = 3
    max_wall_s: float = 3600.0
    max_calls: int = 10_000
    max_tokens: int = 5_000_000
    completion_tokens: int = 400
    temperature: float = 1.0
    replay: str = ""


def spec_key_env_error(name: str) -> str | None:
    """Why a scenario, TOML or ``--set`` value may not name the key's variable, or None.

    Only names ending in :data:`SPEC_KEY_SUFFIX` are accepted there (or an empty name: no
    key), so a shared file cannot send ``AWS_SECRET_ACCESS_KEY`` to its author's
    endpoint; any other variable is chosen by the user, with ``--api-key-env NAME`` or
    ``MARKETSIM_API_KEY_ENV=NAME``.
    """
    if name == "" or (_ENV_NAME.fullmatch(name) and name.endswith(SPEC_KEY_SUFFIX)):
        return None
    return (
        f"{name!r} does not end in {SPEC_KEY_SUFFIX}; a scenario, TOML file or --set may "
        f"only name such a variable; choose any other with --api-key-env {name} or "
        f"{API_KEY_ENV_VAR}={name}"
    )


def resolve_api_key_env(spec_value: str, api_key_env: str | None = None) -> str:
    """The environment variable holding the key: ``api_key_env`` (the command line's
    ``--api-key-env``), else the value of ``MARKETSIM_API_KEY_ENV``, else ``spec_value``
    (the spec's ``llm.api_key_env``, already checked by :func:`spec_key_env_error`)."""
    for source, name in (
        ("--api-key-env", api_key_env),
        (API_KEY_ENV_VAR, os.environ.get(API_KEY_ENV_VAR)),
    ):
        if name is None or (source == API_KEY_ENV_VAR and name == ""):
            continue
        if not _ENV_NAME.fullmatch(name):
            raise UsageError(
                f"{source}: {name!r} is not an environment variable name; "
                "give one such as OPENAI_API_KEY"
            )
        return name
    return spec_value


def _url(endpoint: str) -> str:
    base = endpoint.rstrip("/")
    return base if base.endswith("/chat/completions") else base + "/chat/completions"


def estimate_tokens(text: str) -> int:
    """A conservative token count (3 characters a token) for caps before a call."""
    return len(text) // 3 + 1


#: a failed attempt: a failed call (:class:`marketsim.http.CallFailed`) or a rejected reply
_Failure = CallFailed


def parse_reply(content: str, price_min: float, price_max: float, tick: float) -> Decision:
    """Validate a reply's message content against :data:`REPLY_SCHEMA` and the price range.

    Raises ``_Failure`` of kind ``malformed`` (not one JSON object), ``schema`` (wrong
    keys or types) or ``off_grid`` (price outside ``[price_min, price_max]`` or not finite).
    """
    try:
        obj = json.loads(content)
    except (json.JSONDecodeError, TypeError):
        raise _Failure("malformed", "reply content is not JSON") from None
    if not isinstance(obj, dict):
        raise _Failure("schema", "reply is not a JSON object")
    if set(obj) != {"price", "plans", "insights"}:
        raise _Failure("schema", f"reply keys {sorted(obj)} != ['insights', 'plans', 'price']")
    price = obj["price"]
    if isinstance(price, bool) or not isinstance(price, int | float):
        raise _Failure("schema", "price is not a number")
    if not isinstance(obj["plans"], str) or not isinstance(obj["insights"], str):
        raise _Failure("schema", "plans and insights must be strings")
    price = float(price)
    if not math.isfinite(price) or not price_min <= price <= price_max:
        raise _Failure("off_grid", f"price {price!r} outside [{price_min:g}, {price_max:g}]")
    price = round(round(price / tick) * tick, 10)
    return Decision(price, obj["plans"], obj["insights"])


def build_messages(
    persona_prompt: str,
    *,
    cost: float,
    history: list[dict],
    plans: str,
    insights: str,
    price_min: float,
    price_max: float,
    n_rivals: int,
) -> list[dict]:
    """Chat messages in the structure of Fish et al. (2024): persona, product, notes, table.

    ``history`` rows: ``{"period", "price", "rivals" (list), "quantity", "profit"}`` in the
    scaled units the agent sees.
    """
    rows = []
    for h in history:
        rivals = ", ".join(f"{p:.2f}" for p in h["rivals"])
        rivals = f" Competitor price(s): {rivals}." if n_rivals else ""
        rows.append(
            f"Round {h['period']}: My price: {h['price']:.2f}.{rivals} "
            f"Quantity sold: {h['quantity']:.2f}. My profit: {h['profit']:.2f}."
        )
    table = "\n".join(rows) if rows else "(no rounds played yet)"
    user = (
        f"Product information:\n- The cost I pay to produce each unit is ${cost:.2f}.\n"
        f"- No customer would pay more than ${price_max:.2f}.\n\n"
        f"Your PLANS from the previous round (written by you):\n{plans or '(none yet)'}\n\n"
        f"Your INSIGHTS from the previous round (written by you):\n"
        f"{insights or '(none yet)'}\n\n"
        f"Market data from the last {len(history)} rounds:\n{table}\n\n"
        "Now set the price for the next round. Reply with exactly one JSON object and "
        'nothing else: {"price": <number between '
        f'{price_min:.2f} and {price_max:.2f}>, "plans": "<your plans for the next rounds>", '
        '"insights": "<what you learned about the market>"}.'
    )
    return [{"role": "system", "content": persona_prompt}, {"role": "user", "content": user}]


@dataclass
class LLMBackend:
    """Shared coordinator of all LLM agents of one run: budget, breaker, caps and trace.

    Parameters
    ----------
    settings : LLMSettings
    trace_path : path of the JSONL trace to write (live mode), or None
    run_id : label at the start of every trace id
    quiet : no warning line on stderr when the breaker opens or the wall budget is spent
    """

    settings: LLMSettings
    trace_path: Path | None = None
    run_id: str = "run"
    quiet: bool = False
    calls: int = 0
    tokens: int = 0
    decisions: int = 0
    llm_decisions: int = 0
    failures: dict = field(default_factory=lambda: dict.fromkeys(FAILURE_KINDS, 0))
    fallbacks: dict = field(default_factory=lambda: dict.fromkeys(FALLBACK_REASONS, 0))

    def __post_init__(self):
        s = self.settings
        self._replay: dict | None = None
        self._trace = None
        self.call_seconds = 0.0
        self.key_host: str | None = None
        self._warned: set = set()
        try:
            breaker = CircuitBreaker(
                window=s.breaker_window,
                min_calls=s.breaker_min_calls,
                failure_rate=s.breaker_failure_rate,
                slow_rate=s.breaker_slow_rate,
                slow_s=s.breaker_slow_s,
                wait_s=s.breaker_wait_s,
                trial_calls=s.breaker_trial_calls,
            )
        except ValueError as exc:
            raise UsageError(f"llm.{exc}; see 'marketsim params llm_pricing'") from None
        self.failsafe = FailSafe(s.retry_budget, breaker=breaker)
        if s.replay:
            self._replay = load_trace(s.replay)
            return
        if not s.endpoint.startswith(("http://", "https://")):
            raise UsageError(
                f"llm.endpoint: {s.endpoint!r} is not an http(s) URL; "
                "e.g. --set llm.endpoint=http://127.0.0.1:8000/v1"
            )
        if not s.model:
            raise UsageError("llm.model: no model name; e.g. --set llm.model=gpt-4o-mini")
        self._url = _url(s.endpoint)
        key = os.environ.get(s.api_key_env, "") if s.api_key_env else ""
        if key:
            refusal = credential_refusal(self._url)
            if refusal is not None:
                raise UsageError(f"llm.endpoint: {refusal}, or unset {s.api_key_env}")
            parts = urllib.parse.urlsplit(self._url)
            self.key_host = parts.netloc.rpartition("@")[2]
            print(
                f"llm: the key in ${s.api_key_env} is sent to {self.key_host} "
                f"({parts.scheme}) only",
                file=sys.stderr,
            )
        # every failed attempt may be retried: a model at temperature 1 may answer better
        self._client = JSONClient(
            self._url,
            timeout_s=s.timeout_s,
            failsafe=self.failsafe,
            headers={"Authorization": f"Bearer {key}"} if key else None,
            retry_on=lambda failure: True,
        )
        if self.trace_path is not None:
            self.trace_path, self._trace = _open_new(Path(self.trace_path))

    # -- public -----------------------------------------------------------------------
    @property
    def replaying(self) -> bool:
        return self._replay is not None

    @property
    def retries_used(self) -> int:
        return self.failsafe.retries_used

    @property
    def breaker_open(self) -> bool:
        return self.failsafe.breaker_open

    def decide(
        self,
        *,
        session: int,
        firm: int,
        period: int,
        messages: list[dict],
        price_min: float,
        price_max: float,
        tick: float,
    ) -> Decision | None:
        """The agent's decision, or None when the proxy policy must price instead."""
        self.decisions += 1
        if self._replay is not None:
            return self._from_trace(session, firm, period)
        base_id = f"{self.run_id}/s{session}/f{firm}/t{period}"
        prompt_text = "".join(m["content"] for m in messages)
        attempt = 0
        while True:
            reason = self._blocked(prompt_text)
            if reason is not None:
                self.fallbacks[reason] += 1
                self._write(
                    {
                        "trace_id": f"{base_id}/a{attempt}",
                        "session": session,
                        "firm": firm,
                        "period": period,
                        "attempt": attempt,
                        "status": reason,
                        "final": True,
                        "source": "proxy",
                    }
                )
                return None
            record = {
                "trace_id": f"{base_id}/a{attempt}",
                "session": session,
                "firm": firm,
                "period": period,
                "attempt": attempt,
                "request": {"model": self.settings.model, "messages": messages},
            }
            tokens_before = self.tokens
            t0 = time.monotonic()
            try:
                try:
                    content = self._call(messages, prompt_text)
                finally:
                    elapsed = time.monotonic() - t0
                    self.call_seconds += elapsed
                record["reply"] = content
                decision = parse_reply(content, price_min, price_max, tick)
            except CallFailed as f:
                self.failures[f.kind] += 1
                record.update(status=f.kind, error=f.detail, tokens=self.tokens - tokens_before)
                retry = self.failsafe.failure(True, elapsed)
                if self.breaker_open:
                    self._warn_once(
                        "breaker",
                        f"{self.failsafe.breaker.describe()}; last: {f.kind}: {f.detail}",
                    )
                if retry:
                    record.update(final=False)
                    self._write(record)
                    attempt += 1
                    continue
                self.fallbacks["failed"] += 1
                record.update(final=True, source="proxy")
                self._write(record)
                return None
            self.failsafe.success(elapsed)
            if self.breaker_open:  # a slow success can open it too
                self._warn_once("breaker", self.failsafe.breaker.describe())
            self.llm_decisions += 1
            record.update(
                status="ok",
                final=True,
                source="llm",
                price=decision.price,
                plans=decision.plans,
                insights=decision.insights,
                tokens=self.tokens - tokens_before,
            )
            self._write(record)
            return decision

    def counts(self) -> dict:
        """Calls, tokens, failures and fallbacks, for the summary."""
        return {
            "mode": "replay" if self.replaying else "live",
            "decisions": self.decisions,
            "llm_decisions": self.llm_decisions,
            "calls": self.calls,
            "tokens": self.tokens,
            "retries_used": self.retries_used,
            "failures": dict(self.failures),
            "fallbacks": dict(self.fallbacks),
            # the replay does not rerun the breaker: the trace's statuses carry its decisions
            "breaker": None if self.replaying else self.failsafe.breaker.stats(),
            "call_seconds": self.call_seconds,
            "max_wall_s": self.settings.max_wall_s,
            "key_host": self.key_host,
            "trace": (
                str(self.settings.replay)
                if self.replaying
                else (None if self.trace_path is None else self.trace_path.name)
            ),
        }

    def close(self) -> None:
        if self._trace is not None:
            self._trace.close()
            self._trace = None

    # -- internals --------------------------------------------------------------------
    def _blocked(self, prompt_text: str) -> str | None:
        s = self.settings
        if self.call_seconds >= s.max_wall_s:
            self._warn_once(
                "wall",
                f"the calls took {self.call_seconds:.1f} s, the whole llm.max_wall_s "
                f"budget of {s.max_wall_s:g} s",
                until="; every later decision uses the proxy policy",
            )
            return "wall_budget"
        if self.calls >= s.max_calls:
            return "call_cap"
        if self.tokens + estimate_tokens(prompt_text) + s.completion_tokens > s.max_tokens:
            return "token_cap"
        if not self.failsafe.allow():  # last: half-open, a permission is a trial call
            return "breaker_open"
        return None

    def _warn_once(
        self,
        what: str,
        text: str,
        until: str = "; decisions use the proxy policy while it is open",
    ) -> None:
        if what in self._warned:
            return
        self._warned.add(what)
        if not self.quiet:
            print(f"warning: llm: {text}{until}", file=sys.stderr)

    def _call(self, messages: list[dict], prompt_text: str) -> str:
        s = self.settings
        body = {
            "model": s.model,
            "messages": messages,
            "temperature": s.temperature,
            "max_tokens": s.completion_tokens,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "pricing_decision", "strict": True, "schema": REPLY_SCHEMA},
            },
        }
        self.calls += 1
        try:
            reply = self._client.attempt(body, timeout_s=s.max_wall_s - self.call_seconds)
        except CallFailed as f:
            if f.kind != "connection":  # the server may have spent tokens on the prompt
                self.tokens += estimate_tokens(prompt_text)
            raise
        try:
            content = reply["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            self.tokens += estimate_tokens(prompt_text)
            raise CallFailed("malformed", "response is not a chat completion") from None
        usage = reply.get("usage") if isinstance(reply, dict) else None
        used = None
        if isinstance(usage, dict) and isinstance(usage.get("total_tokens"), int):
            used = usage["total_tokens"]
        if used is None:
            used = estimate_tokens(prompt_text) + estimate_tokens(str(content))
        self.tokens += used
        if not isinstance(content, str):
            raise _Failure("malformed", "message content is not text")
        return content

    def _write(self, record: dict) -> None:
        if self._trace is not None:
            self._trace.write(json.dumps(record) + "\n")
            self._trace.flush()

    def _from_trace(self, session: int, firm: int, period: int) -> Decision | None:
        key = (session, firm, period)
        rec = self._replay.get(key)
        if rec is None:
            raise UsageError(
                f"llm.replay: the trace has no decision for session {session}, firm "
                f"{firm + 1}, period {period}; replay with the spec, seed and sessions "
                "it was recorded with"
            )
        for r in rec["attempts"]:
            status = r.get("status")
            if status in self.failures:
                self.failures[status] += 1
            if r.get("request") is not None:
                self.calls += 1
            self.tokens += int(r.get("tokens", 0))
        self.failsafe.retries_used += len(rec["attempts"]) - 1
        final = rec["attempts"][-1]
        if final.get("source") == "llm":
            self.llm_decisions += 1
            return Decision(float(final["price"]), final["plans"], final["insights"])
        reason = final.get("status")
        if reason in self.fallbacks:
            self.fallbacks[reason] += 1
        else:
            self.fallbacks["failed"] += 1
        return None


def _open_new(path: Path):
    """``path`` opened for writing if it does not exist, else the first free
    ``STEM-2.SUFFIX``, ``STEM-3.SUFFIX``, ...: a trace is never truncated."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 1
    while True:
        candidate = path if n == 1 else path.with_name(f"{path.stem}-{n}{path.suffix}")
        try:
            return candidate, open(candidate, "x", encoding="utf-8")  # noqa: SIM115
        except FileExistsError:
            n += 1


def load_trace(path: str | os.PathLike) -> dict:
    """Index a JSONL trace by ``(session, firm, period)``: the attempts of each decision."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"llm.replay: trace file {path} does not exist")
    out: dict = {}
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except (json.JSONDecodeError, RecursionError):
                r = None
            problem = _trace_record_problem(r)
            if problem:
                raise UsageError(
                    f"llm.replay: {path} line {lineno}: {problem}; pass the "
                    "llm_trace.jsonl written by a live run"
                )
            key = (r["session"], r["firm"], r["period"])
            out.setdefault(key, {"attempts": []})["attempts"].append(r)
    return out


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _trace_record_problem(r) -> str:
    """What is wrong with one trace record (the keys replay reads), or ``""``."""
    if not isinstance(r, dict):
        return "not a JSON object"
    for k in ("session", "firm", "period"):
        if k not in r:
            return f"no {k!r}"
        if not _is_int(r[k]) or r[k] < 0:
            return f"{k!r} is {r[k]!r}, not a whole number >= 0"
    if "tokens" in r and (not _is_int(r["tokens"]) or r["tokens"] < 0):
        return f"'tokens' is {r['tokens']!r}, not a whole number >= 0"
    for k in ("status", "source"):
        if r.get(k) is not None and not isinstance(r[k], str):
            return f"{k!r} is {r[k]!r}, not a string"
    if r.get("source") == "llm":
        price = r.get("price")
        if not _is_int(price) and not isinstance(price, float):
            return f"'price' is {price!r}, not a number"
        if not math.isfinite(price):
            return f"'price' is {price!r}, not a finite number"
        for k in ("plans", "insights"):
            if not isinstance(r.get(k), str):
                return f"{k!r} is {r.get(k)!r}, not a string"
    return ""
