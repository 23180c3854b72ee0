"""Simulate a Kaggle run: the real Scheduler, a latency model of 4 vLLM replicas, simulated time.

What it answers: does the scheduler keep the replicas busy for the whole budget (target: >= 98%
of the budget spent sampling), how do samples spread over tasks by prompt length, and when is
the last valid submission written. It runs in seconds on a CPU.

The latency model (one line each, all flags):
- prompt tokens = cells + rows + 300 for each real ARC-AGI-2 evaluation task (one token per
  cell and per newline, plus instructions); the 120 tasks are taken twice to make 240;
- a replica is a processor shared by its active requests: a request needs
  prompt/prefill_tps (a tenth of that when the task's prompt is already in that replica's
  prefix cache) + n * completion_tokens/decode_tps seconds of the whole replica;
- completions are log-normal around --gen-tokens; per task, a sample is right on all train pairs
  with probability p (a quarter of the tasks are solvable, p in 0.01..0.2, shorter tasks easier),
  and partly right with probability 0.05 (0 for a third of the unsolvable tasks, which the
  scheduler should give up on);
- a checkpoint (vote + write) every --checkpoint-every s takes --vote-seconds.
"""

from __future__ import annotations

import argparse
import random
import statistics

from arc_induct.config import PRESETS
from arc_induct.scheduler import Scheduler, sampling_deadline
from arc_induct.store import Attempt, ExecutionResult
from arc_induct.tasks import Task, load_tasks


def prompt_tokens(task: Task) -> int:
    grids = [g for p in task.train for g in (p.input, p.output)] + list(task.test_inputs)
    return task.cells + sum(len(g) for g in grids) + 300


def simulate(args: argparse.Namespace) -> dict:
    rng = random.Random(args.seed)
    cfg = PRESETS["kaggle-4xL4"]
    base = load_tasks("arc-agi-2/evaluation")
    tasks = [Task(f"{t.id}-{k}", t.train, t.test_inputs) for k in range(2) for t in base][: args.tasks]
    lengths = {t.id: prompt_tokens(t) for t in tasks}
    longest = max(lengths.values())
    p_right = {tid: (rng.uniform(0.01, 0.2) * (1.2 - n / longest) if rng.random() < 0.25 else 0.0) for tid, n in lengths.items()}
    p_partial = {tid: (0.0 if p == 0 and rng.random() < 1 / 3 else 0.05) for tid, p in p_right.items()}
    sched = Scheduler([(t, lengths[t.id]) for t in tasks], cfg.scheduling, seed=cfg.seed)
    budget, slots_per_replica = args.hours * 3600, cfg.routing.in_flight_per_replica
    stop_at = sampling_deadline(0.0, budget, cfg.reserve_min_s, args.vote_seconds)

    replicas = [{"active": {}, "cached": set(), "busy": 0.0} for _ in range(args.replicas)]
    home = {t.id: i % args.replicas for i, t in enumerate(sorted(tasks, key=lambda t: lengths[t.id]))}
    now, next_ckpt, writes, samples = 0.0, cfg.checkpoint_every_s, [0.0], {t.id: 0 for t in tasks}
    uid = 0

    def fill():
        nonlocal uid
        for r, rep in enumerate(replicas):
            while len(rep["active"]) < slots_per_replica and now < stop_at:
                item = sched.next_item(now)
                if item is None and sched.extend_budget(now):
                    item = sched.next_item(now)
                if item is None:
                    return
                # Affinity: the task's home replica unless it is fuller than the emptiest by 2+.
                target = home[item.task_id]
                emptiest = min(range(len(replicas)), key=lambda i: len(replicas[i]["active"]))
                if len(replicas[target]["active"]) >= slots_per_replica or len(replicas[target]["active"]) - len(replicas[emptiest]["active"]) >= 2:
                    target = emptiest
                rp = replicas[target]
                prefill = lengths[item.task_id] / args.prefill_tps
                if item.task_id in rp["cached"]:
                    prefill *= 0.1
                rp["cached"].add(item.task_id)
                gen = sum(min(4096, rng.lognormvariate(0, 0.5) * args.gen_tokens) for _ in item.indices)
                uid += 1
                rp["active"][uid] = (prefill + gen / args.decode_tps, item)

    fill()
    while True:
        events = [(work * len(rep["active"]), r, u) for r, rep in enumerate(replicas) for u, (work, _) in rep["active"].items()]
        if not events:
            break
        dt, r, u = min(events)
        if now + dt > stop_at:  # deadline: in-flight requests are cancelled
            for rep in replicas:
                rep["busy"] += (stop_at - now) if rep["active"] else 0
            now = stop_at
            break
        for rep in replicas:  # processor sharing: every active request progressed by dt / k
            k = len(rep["active"])
            if k:
                rep["busy"] += dt
                rep["active"] = {u2: (w - dt / k, it) for u2, (w, it) in rep["active"].items()}
        now += dt
        _, item = replicas[r]["active"].pop(u)
        attempts = []
        for index in item.indices:
            x = rng.random()
            p = p_right[item.task_id]
            correct = (True, True) if x < p else ((True, False) if x < p + p_partial[item.task_id] else (False, False))
            result = ExecutionResult("ok", (), (), (), (), correct, None, 0.0)
            attempts.append(Attempt(item.task_id, index, item.kind, result=result, hardcoded_p=0.0))
        samples[item.task_id] += len(attempts)
        sched.finish(item, attempts)
        if now >= next_ckpt:
            writes.append(now + args.vote_seconds)
            next_ckpt = now + cfg.checkpoint_every_s
        fill()
    final_write = max(now, stop_at if any(st.open for st in sched.states.values()) else now) + args.vote_seconds
    writes.append(final_write)
    by_len = sorted(tasks, key=lambda t: lengths[t.id])
    quart = [by_len[i * len(by_len) // 4:(i + 1) * len(by_len) // 4] for i in range(4)]
    return {
        "budget_s": budget,
        "sampling_share": now / budget,
        "replica_busy_share": statistics.mean(rep["busy"] for rep in replicas) / budget,
        "last_write_s": writes[-1],
        "samples": sum(samples.values()),
        "outcomes": {k: sum(st.done == k for st in sched.states.values()) for k in ("early_stop", "gave_up", "budget", None)},
        "samples_by_length_quartile": [statistics.median(samples[t.id] for t in q) for q in quart],
        "prompt_tokens_by_quartile": [statistics.median(lengths[t.id] for t in q) for q in quart],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hours", type=float, default=PRESETS["kaggle-4xL4"].budget_s / 3600)
    p.add_argument("--tasks", type=int, default=240)
    p.add_argument("--replicas", type=int, default=4)
    p.add_argument("--prefill-tps", type=float, default=4000.0, help="prompt tokens/s of one replica")
    p.add_argument("--decode-tps", type=float, default=900.0, help="generated tokens/s of one replica, batched")
    p.add_argument("--gen-tokens", type=float, default=700.0)
    p.add_argument("--vote-seconds", type=float, default=5.0)
    p.add_argument("--seed", type=int, default=0)
    r = simulate(p.parse_args())
    b = r["budget_s"]
    print(f"budget {b / 3600:.2f} h, {r['samples']} samples, tasks: {r['outcomes']}")
    print(f"sampling window     {100 * r['sampling_share']:.2f}% of the budget (target >= 98%)")
    print(f"replicas busy       {100 * r['replica_busy_share']:.2f}% of the budget")
    print(f"last valid write    {r['last_write_s']:.0f} s = {100 * r['last_write_s'] / b:.2f}% of the budget (must be < 100%)")
    print("samples per task by prompt-length quartile (median):")
    for q, (n, toks) in enumerate(zip(r["samples_by_length_quartile"], r["prompt_tokens_by_quartile"])):
        print(f"  Q{q + 1}  ~{toks:.0f} prompt tokens  {n:.0f} samples")


if __name__ == "__main__":
    main()
