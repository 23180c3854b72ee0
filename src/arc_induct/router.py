"""Send completion requests to many OpenAI-compatible servers, keeping each task on one replica.

Covered: `Router.complete(CompletionRequest) -> Completion` against `/v1/completions` (a rendered
text prompt) or `/v1/chat/completions` (chat messages; the server applies the chat template, with
`enable_thinking` sent as `chat_template_kwargs`) on any list of base URLs (local replicas, vLLM
servers on other hosts, hosted OpenAI-compatible services); an API key sent as a bearer token
(given by the entry point, never logged or recorded); routing policies as small named
objects (`affinity`, `round_robin`, `least_loaded`); retries with exponential backoff on connection
errors, timeouts, 5xx, 408 and 429, each retry preferring another replica (so requests in flight on
a replica that dies are re-sent elsewhere); a per-request timeout; the request's seed (the
scheduler's) sent with it; appending every Completion to a JSONL file, which `replay.ReplayBackend`
serves so later stages re-run without a GPU. Both backends fail a request only with
`RouterError`, the one error the run counts as a failed request; its `cause` says what kind of
failure it was (CAUSES), so the run can count failures by cause and decide what to do with them.
A refused key (401/403) raises `AuthError` at once instead, without retries, because every other
request would fail the same way.

Not covered: streaming, and load read from vLLM's /metrics: load is this router's own count of
sequences in flight, exact as long as one router feeds the replicas (two routers sharing replicas
would each see half the load).

Why affinity: every ARC prompt is long and sampled many times; a replica that has seen a task's
prompt serves the next request from its prefix cache instead of re-reading the prompt.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol, Sequence

# aiohttp rather than httpx: it is asyncio-native, stays fast with hundreds of concurrent
# connections (httpx's pool is slower there), is actively maintained, and vLLM already depends on it.
import aiohttp
import orjson

from arc_induct.prompts import Messages, prompt_hash

APIS = ("completions", "chat")  # /v1/completions with rendered text | /v1/chat/completions with messages


# Why a request failed for good, as RouterError.cause. Transient causes may go away (a replica
# restarts, a queue drains), so the same request is worth sending again later; the others will
# get the same answer however often the request is sent.
TRANSIENT = ("unreachable", "timeout", "http_5xx", "rate_limited", "bad_response")
CAUSES = TRANSIENT + (
    "refused_4xx",       # the server refused the request itself (a wrong model name, an API key, too long)
    "replay_missing",    # replay: this request was not recorded, later ones of the task were
    "replay_exhausted",  # replay: nothing recorded for this task at or after this attempt
    "replay_mismatch",   # replay: recorded for a different prompt
    "replay_file",       # replay: the recording file is malformed (raised when it is opened)
)


class RouterError(RuntimeError):
    """A request that cannot succeed (4xx) or failed on every retry; names task and attempt.

    Every backend fails only with this error, whatever went wrong; `cause` is one of CAUSES."""

    def __init__(self, message: str, cause: str) -> None:
        if cause not in CAUSES:
            raise ValueError(f"unknown RouterError cause {cause!r}; known: {', '.join(CAUSES)}")
        super().__init__(message)
        self.cause = cause

    @property
    def transient(self) -> bool:
        """Worth sending again later (the scheduler holds its samples back for a while)."""
        return self.cause in TRANSIENT


class AuthError(RuntimeError):
    """An endpoint refused the API key (401/403), or wanted one; names the variable it comes from.
    Not a RouterError: it is not one failed request but a run that cannot work."""


@dataclass(frozen=True)
class RoutingConfig:
    """The run's routing section: where requests go and how failures are retried."""

    api: str = "completions"  # see APIS
    api_key_env: str = "OPENAI_API_KEY"  # the variable the entry point reads the key from (named in errors)
    policy: str = "affinity"  # see POLICIES
    timeout_s: float = 600.0  # one request, queueing in vLLM included
    retries: int = 6
    backoff_s: float = 0.5  # doubles per retry, up to max_backoff_s
    max_backoff_s: float = 15.0
    down_s: float = 5.0  # a failed endpoint rests this long, doubling per consecutive failure
    in_flight_per_replica: int = 2  # requests the run keeps outstanding per endpoint


@dataclass(frozen=True)
class SamplingConfig:
    """The run's sampling section: how each completion is drawn."""

    max_tokens: int = 512
    temperature: float = 1.0
    top_p: float = 1.0
    min_p: float = 0.0  # a vLLM extension; sent only when set (plain OpenAI servers reject it)
    # enable_thinking for the chat template (Qwen3 and others think unless told not to); None sends
    # nothing, for services that reject chat_template_kwargs. max_tokens covers thinking and code.
    thinking: bool | None = False


@dataclass(frozen=True)
class CompletionRequest:
    task_id: str
    index: int  # the first attempt index of the request's n samples
    prompt: str | Messages  # rendered text for the completions API, chat messages for the chat API
    seed: int  # scheduler.attempt_seed: distinct per request, the same on every retry
    n: int = 1
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Completion:
    task_id: str
    index: int
    texts: tuple[str, ...]
    endpoint: str
    seconds: float
    prompt_tokens: int
    completion_tokens: int
    finish_reasons: tuple[str | None, ...] = ()  # per text: "stop", or "length" when max_tokens cut it

    def to_row(self) -> dict:
        return asdict(self)


# ---- policies: choose(task_id, load, alive) -> index of the endpoint to use -----------------------

class Policy(Protocol):
    name: str

    def choose(self, task_id: str, load: Sequence[int], alive: Sequence[bool]) -> int: ...


def _least_loaded(load: Sequence[int], alive: Sequence[bool]) -> int:
    best = -1
    for i, (l, a) in enumerate(zip(load, alive)):
        if a and (best < 0 or l < load[best]):
            best = i
    return best if best >= 0 else min(range(len(load)), key=load.__getitem__)  # all down: try anyway


@dataclass
class LeastLoaded:
    name: str = "least_loaded"

    def choose(self, task_id: str, load: Sequence[int], alive: Sequence[bool]) -> int:
        return _least_loaded(load, alive)


@dataclass
class RoundRobin:
    name: str = "round_robin"
    _next: int = 0

    def choose(self, task_id: str, load: Sequence[int], alive: Sequence[bool]) -> int:
        for _ in range(len(load)):
            i, self._next = self._next, (self._next + 1) % len(load)
            if alive[i]:
                return i
        return _least_loaded(load, alive)


class Affinity:
    """A task sticks to its home replica while home's load <= ratio * least load + slack.

    The home is the least-loaded replica when the task is first seen (ties: the one homing fewest
    tasks). Over the bound, or while home is down, a request spills to the least-loaded replica; the
    home does not move, so the task comes back once home drains. Load is counted in sequences (a
    request with n=8 weighs 8)."""

    name = "affinity"

    def __init__(self, slack: int = 16, ratio: float = 1.5) -> None:
        self.slack, self.ratio = slack, ratio
        self.home: dict[str, int] = {}
        self.homed: list[int] = []

    def choose(self, task_id: str, load: Sequence[int], alive: Sequence[bool]) -> int:
        low = _least_loaded(load, alive)
        home = self.home.get(task_id)
        if home is None:
            if len(self.homed) != len(load):
                self.homed = [0] * len(load)
            home = min((i for i in range(len(load)) if alive[i] and load[i] == load[low]),
                       key=self.homed.__getitem__, default=low)
            self.home[task_id] = home
            self.homed[home] += 1
        if alive[home] and load[home] <= self.ratio * load[low] + self.slack:
            return home
        return low


POLICIES = {"affinity": Affinity, "round_robin": RoundRobin, "least_loaded": LeastLoaded}


def make_policy(name: str) -> Policy:
    if name not in POLICIES:
        raise ValueError(f"unknown routing policy {name!r}; known: {', '.join(POLICIES)}")
    return POLICIES[name]()


# ---- the router ---------------------------------------------------------------------------------

def normalize_endpoint(url: str) -> str:
    url = url.strip().rstrip("/")
    url = url[: -len("/v1")] if url.endswith("/v1") else url
    return url if "://" in url else "http://" + url


class Router:
    """Async client over many endpoints. Use inside one event loop; `async with` closes it."""

    def __init__(self, endpoints: Sequence[str], model: str, config: RoutingConfig = RoutingConfig(), *,
                 policy: Policy | None = None, record: Path | None = None, api_key: str | None = None) -> None:
        if not endpoints:
            raise ValueError("Router needs at least one endpoint URL")
        self.endpoints = [normalize_endpoint(e) for e in endpoints]
        self.model = model
        self.config = config
        self.policy = policy or make_policy(config.policy)
        self.load = [0] * len(self.endpoints)           # sequences in flight per endpoint
        self.down_until = [0.0] * len(self.endpoints)   # monotonic time a failed endpoint rests until
        self.strikes = [0] * len(self.endpoints)        # consecutive failures: the rest doubles each time
        self.sent = [0] * len(self.endpoints)           # requests sent per endpoint (for reports)
        self.failures = 0                               # attempts re-sent after a failed one
        if config.api not in APIS:
            raise ValueError(f"unknown API {config.api!r}; known: {', '.join(APIS)}")
        self._path = "/v1/chat/completions" if config.api == "chat" else "/v1/completions"
        # The key lives only in these headers: never in the config, a log line or the record.
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._record = open(record, "ab") if record else None
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> "Router":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._record is not None:
            self._record.close()
            self._record = None

    def ready_in(self) -> float:
        """Seconds until some endpoint is out of its rest (0.0: one is up now). While every endpoint
        rests after failures, the run sends nothing new instead of failing requests in a row."""
        return max(0.0, min(self.down_until) - time.monotonic())

    def pick(self, task_id: str, n: int, avoid: int = -1) -> int:
        """Policy choice plus bookkeeping: the whole per-request routing cost, without HTTP."""
        now = time.monotonic()
        alive = [t <= now and i != avoid for i, t in enumerate(self.down_until)]
        i = self.policy.choose(task_id, self.load, alive)
        self.load[i] += n
        self.sent[i] += 1
        return i

    def payload(self, req: CompletionRequest) -> dict:
        s = req.sampling
        chat = self.config.api == "chat"
        if chat == isinstance(req.prompt, str):
            raise TypeError(f"the {self.config.api} API takes {'messages' if chat else 'text'}; "
                            f"task {req.task_id} attempt {req.index} has {type(req.prompt).__name__}")
        body = {"model": self.model, "n": req.n, "max_tokens": s.max_tokens,
                "temperature": s.temperature, "top_p": s.top_p, "seed": req.seed}
        if chat:
            body["messages"] = list(req.prompt)
            if s.thinking is not None:  # read by vLLM and SGLang; the template ignores what it does not use
                body["chat_template_kwargs"] = {"enable_thinking": s.thinking}
        else:
            body["prompt"] = req.prompt
        if s.min_p:
            body["min_p"] = s.min_p  # a vLLM extension; plain OpenAI servers reject unknown fields
        if req.stop:
            body["stop"] = list(req.stop)
        return body

    async def complete(self, req: CompletionRequest) -> Completion:
        if self._session is None:
            # No pool limit: vLLM queues requests itself, and callers bound their own concurrency.
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        cfg = self.config
        body, last_error, cause, avoid = self.payload(req), "", "unreachable", -1
        for attempt in range(cfg.retries + 1):
            if attempt:  # back off before a retry (never after the last failure: it raises at once)
                self.failures += 1
                await asyncio.sleep(min(cfg.max_backoff_s, cfg.backoff_s * 2 ** (attempt - 1)) * random.uniform(0.5, 1))
            i = self.pick(req.task_id, req.n, avoid)
            t0 = time.monotonic()
            try:
                status, data = await self._post(self.endpoints[i], body)
            except asyncio.TimeoutError:
                status, data, last_error, cause = 0, None, f"timed out after {cfg.timeout_s:g} s", "timeout"
            except (aiohttp.ClientError, OSError) as e:
                status, data, last_error, cause = 0, None, f"{type(e).__name__}: {e}", "unreachable"
            finally:
                self.load[i] -= req.n
            if status == 200 and isinstance(data, dict) and isinstance(data.get("choices"), list):
                self.strikes[i] = 0
                return self._finish(req, i, data, time.monotonic() - t0)
            if status == 200:  # a proxy's error page, a truncated body: the server's fault, retried
                status, last_error, cause = 0, f"HTTP 200 without completions: {str(data)[:300]}", "bad_response"
            if status in (401, 403):  # the key: every request would fail alike, so no retry, no next request
                raise AuthError(self._auth_message(i, status, data))
            if 400 <= status < 500 and status not in (408, 429):  # our request is wrong: retrying cannot help
                raise RouterError(f"task {req.task_id} attempt {req.index}: {self.endpoints[i]} "
                                  f"answered {status}: {str(data)[:500]}", "refused_4xx")
            if status:
                last_error = f"HTTP {status}: {str(data)[:300]}"
                cause = {408: "timeout", 429: "rate_limited"}.get(status, "http_5xx")
            self.down_until[i] = time.monotonic() + min(60.0, cfg.down_s * 2 ** self.strikes[i])
            self.strikes[i] += 1
            avoid = i  # re-send elsewhere: the replica may be dead (the watchdog restarts it)
        raise RouterError(f"task {req.task_id} attempt {req.index}: failed {cfg.retries + 1} times; "
                          f"last error: {last_error}", cause)

    def _auth_message(self, i: int, status: int, data: dict | str) -> str:
        env = self.config.api_key_env
        said = " ".join(str(data.get("error", data) if isinstance(data, dict) else data).split())
        key = self._headers.get("Authorization", "").removeprefix("Bearer ")
        said = (said.replace(key, "***") if key else said)[:160]  # some services echo the key back
        if key:
            return f"{self.endpoints[i]} refused the API key from ${env} (HTTP {status}: {said})"
        return (f"{self.endpoints[i]} wants an API key (HTTP {status}: {said}); none was sent: "
                f"set ${env}, or name the variable holding it with --api-key-env")

    async def _post(self, endpoint: str, body: dict) -> tuple[int, dict | str]:
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
        async with self._session.post(endpoint + self._path, data=orjson.dumps(body),
                                      headers={"Content-Type": "application/json", **self._headers},
                                      timeout=timeout) as r:
            raw = await r.read()
            try:
                return r.status, orjson.loads(raw)
            except orjson.JSONDecodeError:
                return r.status, raw.decode(errors="replace")

    def _finish(self, req: CompletionRequest, i: int, data: dict, seconds: float) -> Completion:
        choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
        usage = data.get("usage") or {}
        c = Completion(task_id=req.task_id, index=req.index,
                       texts=tuple(_choice_text(ch) for ch in choices), endpoint=self.endpoints[i],
                       seconds=seconds, prompt_tokens=usage.get("prompt_tokens", 0),
                       completion_tokens=usage.get("completion_tokens", 0),
                       finish_reasons=tuple(ch.get("finish_reason") for ch in choices))
        if self._record is not None:
            # One flushed line per completion: a crash loses nothing already sampled.
            self._record.write(orjson.dumps({**c.to_row(), "prompt_hash": prompt_hash(req.prompt)}) + b"\n")
            self._record.flush()
        return c


def _choice_text(choice: dict) -> str:
    """A completion's text, or a chat answer's content. Reasoning a server returned apart (vLLM's
    reasoning parsers) is kept in front as <think>...</think>, which extraction skips."""
    if "message" not in choice:
        return choice["text"]
    message = choice["message"] or {}
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    content = message.get("content") or ""
    return f"<think>{reasoning}</think>{content}" if reasoning else content
