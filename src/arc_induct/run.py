"""The main job: sample programs for every task within a time budget, and always leave a submission.

Covered: opening a backend (local vLLM replicas, given OpenAI-compatible endpoints, or a replay
file); rendering first prompts and ordering tasks by their length; the async loop that keeps
every replica busy, extracts and executes each sample, scores it for hard-coding and stores it;
checkpoints (vote + atomic write) every few minutes, on SIGTERM/SIGINT, and at the end; resume
from the store. The submission is written with fallbacks before anything heavy starts.
Failures cost time, not CPU: a failed request goes back to the scheduler (which rests its task,
longer after each failure in a row), nothing new is sent while every endpoint rests, failures are
counted by cause and logged at most once per cause per interval; a task whose recordings ran out
is closed; with no replica up the run keeps the fallback submission and its report says why.
Not covered: what a stage does inside (see prompts, router, execution, transduction, voting).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from arc_induct.config import RunConfig
from arc_induct.execution import ExecutionPool
from arc_induct.extraction import extract_program
from arc_induct.prompts import (Messages, Prompt, PromptFormat, load_format, prompt_hash, prompt_length, render,
                                task_prompt)
from arc_induct.replicas import Replicas, StartupError, served_max_len
from arc_induct.report import FailureLog, Report, build_report
from arc_induct.router import CompletionRequest, RouterError
from arc_induct.scheduler import Scheduler, WorkItem, sampling_deadline
from arc_induct.store import Attempt, AttemptStore, read_attempts
from arc_induct.submission import build_submission, write_bytes_atomic, write_submission
from arc_induct.tasks import Task, load_tasks
from arc_induct.tiny_model import is_tiny_model
from arc_induct.transduction import hardcoded_probability
from arc_induct.voting import Ballot, answers

log = logging.getLogger("arc_induct.run")

TINY_MODEL_NOTE = ("the model is a tiny random network made locally; its text is noise, so no program is "
                   "expected and the score is expected to be 0.")


@dataclass
class Context:
    """Everything the sampling loop shares; built once by `run_job`."""

    cfg: RunConfig
    tasks: dict[str, Task]
    all_tasks: list[Task]
    backend: Any  # Router or ReplayBackend (anything with `async complete`); set once started
    tokenizer: Any
    pool: ExecutionPool | None  # set once started
    store: AttemptStore
    scheduler: Scheduler
    first_prompts: dict[str, str | Messages]  # as sent: rendered text, or messages for a chat API
    ballots: dict[str, Ballot]  # running votes: memory grows with distinct answers, not attempts
    started: float  # what the budget counts from: the run's start, or sampling's (RunConfig.budget_from)
    stop_at: float
    checkpoint_seconds: float = 0.0
    failures: FailureLog = field(default_factory=FailureLog)
    new_attempts: int = 0  # sampled by this run (not restored from the store)
    ended: str = "not started"  # why sampling ended, for the report
    checkpoints: int = 0
    fmt: PromptFormat | None = None  # the prompt format (None: the built-in one)


def run_job(cfg: RunConfig, api_key: str | None = None) -> Report:
    """`api_key`: for `--backend openai`, read by the entry point from the variable
    `cfg.routing.api_key_env` names; it is sent as a bearer token and nowhere else."""
    started = time.monotonic()
    cfg.check()
    fmt = load_format(cfg.prompts.format, cfg.prompts.encoding)
    all_tasks = load_tasks(cfg.dataset)
    cfg.out.mkdir(parents=True, exist_ok=True)
    if not (cfg.resume and cfg.submission_path.exists()):
        # A valid file exists from the first second on, whatever happens after.
        write_submission(cfg.submission_path, build_submission(all_tasks, {}))
    model, notes = cfg.model, list(cfg.notes)
    if model is None and cfg.backend == "vllm":
        from arc_induct.tiny_model import make_tiny_model  # the dry run: no download, ever

        model = make_tiny_model(cfg.out / "tiny-model", seed=cfg.seed)
    # What export reads back (dataset, model, prompt format, threshold): the latest start's settings.
    write_bytes_atomic(cfg.out / "run_config.json", dataclasses.replace(cfg, model=model).to_json())
    if cfg.backend != "replay" and model is not None and is_tiny_model(model):
        notes.append(TINY_MODEL_NOTE)  # only when it is the model sampled (the dry run, the CPU notebook)
    tokenizer = load_tokenizer(model)
    prompts = {t.id: task_prompt(t, None, fmt) for t in all_tasks}
    # Measured through the chat template also for a chat API: the server renders the same text.
    lengths = {tid: prompt_length(render(p, tokenizer, cfg.sampling.thinking), tokenizer)
               for tid, p in prompts.items()}
    first = {tid: as_sent(p, cfg, tokenizer) for tid, p in prompts.items()}
    chosen = sorted(all_tasks, key=lambda t: (lengths[t.id], t.id))[: cfg.max_tasks]
    scheduler = Scheduler([(t, lengths[t.id]) for t in chosen], cfg.scheduling, seed=cfg.seed)
    # Prompt + max_tokens (reasoning included) must fit; servers run with the model's limit when lower.
    limit, new_tokens = served_max_len(cfg.serving.max_model_len, model), cfg.sampling.max_tokens
    if tokenizer is not None:  # lengths are tokens: a prompt the server cannot take is never sent
        for t in chosen:
            if lengths[t.id] + new_tokens > limit:
                scheduler.close(t.id, "too_long")
                log.warning("task %s: prompt of %d tokens + %d to generate exceeds max_model_len %d; skipped",
                            t.id, lengths[t.id], new_tokens, limit)
    error = None
    with contextlib.ExitStack() as stack:
        store = stack.enter_context(AttemptStore(cfg.out / "attempts.jsonl", resume=cfg.resume))
        ballots = {t.id: Ballot(t) for t in chosen}
        stored = 0
        for a in store.attempts():
            if a.task_id in ballots:  # attempts of tasks outside this run (a lower --tasks) stay stored
                scheduler.record(a)
                ballots[a.task_id].add(a)
                stored += 1
        ctx = Context(
            cfg, {t.id: t for t in chosen}, all_tasks, None, tokenizer, None, store, scheduler,
            first, ballots, started, stop_at=sampling_deadline(started, cfg.budget_s, cfg.reserve_min_s, 0.0),
            fmt=fmt,
        )
        checkpoint(ctx)  # on resume: the stored answers are in the file before the model is even up
        sampling_seconds = 0.0
        try:
            ctx.backend = open_backend(cfg, model, stack, notes, api_key)
        except StartupError as e:
            # No replica came up (each was tried twice): the fallback submission stands, and the
            # report and the exit status say why instead of a traceback that loses the report.
            error = str(e).splitlines()[0] + "; nothing was sampled, the submission is the fallback"
            log.error("%s", e)
            ctx.ended = "never started: no replica came up"
        if ctx.backend is not None:
            ctx.pool = stack.enter_context(ExecutionPool(cfg.execution.workers, cfg.execution.limits,
                                                         confinement=cfg.execution.confinement))
            sampling_started = time.monotonic()
            if cfg.budget_from == "sampling":  # the smoke run: its start-up is the machine's, not its budget
                ctx.started = sampling_started
                ctx.stop_at = sampling_deadline(ctx.started, cfg.budget_s, cfg.reserve_min_s, ctx.checkpoint_seconds)
            log.info("run: %d tasks, %d stored attempts, budget %.0f s from the %s", len(chosen), stored,
                     cfg.budget_s, "start of sampling" if cfg.budget_from == "sampling" else "start")
            try:
                run_coroutine(sample_until_done(ctx))
            finally:
                # Also when a bug of ours stops sampling: the file on disk gets every stored attempt
                # before the traceback surfaces.
                sampling_seconds = time.monotonic() - sampling_started
                checkpoint(ctx)
    failures, resent = dict(ctx.failures.counts), ctx.backend.failures if ctx.backend else 0
    if error is None and ctx.new_attempts == 0 and (resent or any(c != "replay_exhausted" for c in failures)):
        error = (f"no request succeeded, so nothing was sampled: {sum(failures.values())} failed "
                 f"({', '.join(f'{c} {n}' for c, n in failures.items()) or 'none yet'}), {resent} re-sent")
    report = build_report(
        dataset=cfg.dataset, backend=cfg.backend, tasks=chosen,
        attempts=(a for a in read_attempts(store.path) if a.task_id in ballots),
        outcomes=[st.done for st in scheduler.states.values()], threshold=cfg.scheduling.hardcoded_threshold,
        failures=failures, resent_requests=resent, ended=ctx.ended, error=error,
        checkpoints=ctx.checkpoints, sampling_seconds=sampling_seconds,
        total_seconds=time.monotonic() - started, budget_seconds=cfg.budget_s, submission=cfg.submission_path,
        notes=tuple(notes))
    report.write(cfg.out)
    return report


def run_coroutine(coro: Any) -> Any:
    """asyncio.run, also from inside a running loop (Jupyter): then in a thread with its own loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        return ex.submit(asyncio.run, coro).result()


def as_sent(prompt: Prompt, cfg: RunConfig, tokenizer: Any) -> str | Messages:
    """The messages for a chat API; else the text through the model's chat template."""
    return prompt.messages if cfg.routing.api == "chat" else render(prompt, tokenizer, cfg.sampling.thinking)


def open_backend(cfg: RunConfig, model: Path | None, stack: contextlib.ExitStack, notes: list[str],
                 api_key: str | None = None) -> Any:
    """Start or connect the completion backend: anything with `async complete(CompletionRequest)`
    that fails only with RouterError, and `ready_in()` (seconds until it can take a request).
    Replicas that did not start are named in `notes`; StartupError when none did."""
    from arc_induct.replay import ReplayBackend
    from arc_induct.router import Router

    if cfg.backend == "replay":
        return ReplayBackend(cfg.replay)
    endpoints = list(cfg.endpoints)
    if cfg.backend == "vllm":
        replicas = stack.enter_context(Replicas(model, cfg.serving, log_dir=cfg.out / "logs"))
        notes.extend(replicas.startup_failures)
        # Replicas that did not start stay in the list: requests to them fail at once and go
        # elsewhere, their endpoint rests, and they take work once the watchdog has them up.
        endpoints = list(replicas.endpoints)
    # Every completion is also recorded, so the run can be replayed later without a GPU.
    return Router(endpoints, model=cfg.serving.served_model_name, config=cfg.routing,
                  record=cfg.out / "completions.jsonl", api_key=api_key if cfg.backend == "openai" else None)


def load_tokenizer(model: Path | None) -> Any:
    if model is None:
        return None
    from transformers import AutoTokenizer  # only with the gpu/cpu extras

    return AutoTokenizer.from_pretrained(str(model))


async def sample_until_done(ctx: Context) -> None:
    cfg, sched = ctx.cfg, ctx.scheduler
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    # SIGTERM/SIGINT end sampling early; the final vote and write still happen. Only the main
    # thread can own signal handlers (in Jupyter this loop runs in a worker thread).
    signals = (signal.SIGINT, signal.SIGTERM) if threading.current_thread() is threading.main_thread() else ()
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    slots = max(1, cfg.routing.in_flight_per_replica * max(1, len(getattr(ctx.backend, "endpoints", [None]))))
    inflight: dict[asyncio.Task, WorkItem] = {}
    bar = tqdm(total=len(ctx.tasks), desc="tasks done", unit="task", dynamic_ncols=True,
               mininterval=cfg.progress_every_s)
    counts = {"attempts": 0, "programs": 0, "train_ok": 0}
    next_checkpoint = time.monotonic() + cfg.checkpoint_every_s
    bar_at = 0.0
    try:
        while True:
            now = time.monotonic()
            if stop.is_set():
                ctx.ended = "stopped by a signal"
                break
            if now >= ctx.stop_at:
                ctx.ended = "the deadline"
                log.info("run: deadline reached with %d requests in flight", len(inflight))
                break
            rest = ctx.backend.ready_in()  # > 0: every endpoint rests after failures; send nothing new
            while not rest and len(inflight) < slots:
                item = sched.next_item(now)
                if item is None and cfg.scheduling.extend_budget and sched.extend_budget(now):
                    item = sched.next_item(now)
                if item is None:
                    break
                inflight[asyncio.create_task(attempt(ctx, item))] = item
            wake = sched.wake_at(now)  # a task resting after a failure can be sent something then
            if not inflight and not rest and wake is None:
                ctx.ended = "nothing left to sample"  # every task is done, closed or at its budget
                break
            # The one wait of the loop, bounded so the signal, the deadline and checkpoints are
            # seen on time: it ends when a request comes back, a rest is over or a second passed.
            timeout = min(1.0, ctx.stop_at - now, next_checkpoint - now, rest or 1.0,
                          wake - now if wake is not None else 1.0)
            timeout = max(0.001, timeout)
            done: set[asyncio.Task] = set()
            if inflight:
                done, _ = await asyncio.wait(inflight, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            else:
                await asyncio.sleep(timeout)
            now = time.monotonic()
            for fut in done:
                item = inflight.pop(fut)
                try:
                    attempts = fut.result()
                except RouterError as e:  # the backend failed for good (after the router's retries)
                    ctx.failures.add(e, now)
                    sched.fail(item, now, retry=e.transient)
                    if e.cause == "replay_exhausted":
                        sched.close(item.task_id, "replay_exhausted")
                    continue
                # Any other exception is a bug of ours: it ends sampling, and run_job still writes
                # the final vote before the traceback surfaces.
                sched.finish(item, attempts)
                ctx.new_attempts += len(attempts)
                counts["attempts"] += len(attempts)
                counts["programs"] += sum(a.status == "ok" for a in attempts)
                counts["train_ok"] += sum(a.train_accuracy == 1.0 for a in attempts)
            ctx.failures.flush(now)
            # At most one progress line per progress_every_s, however fast the loop turns: off a
            # terminal (a notebook, a log file) every refresh is a new line.
            if now - bar_at >= cfg.progress_every_s:
                bar.n = sched.finished_tasks
                bar.set_postfix(counts | {"left_s": f"{max(0.0, ctx.stop_at - now):.0f}"}, refresh=True)
                bar_at = now
            if now >= next_checkpoint:
                checkpoint(ctx)
                next_checkpoint = time.monotonic() + cfg.checkpoint_every_s
                ctx.stop_at = sampling_deadline(ctx.started, cfg.budget_s, cfg.reserve_min_s, ctx.checkpoint_seconds)
    finally:
        for fut in inflight:
            fut.cancel()
        await asyncio.gather(*inflight, return_exceptions=True)
        for item in inflight.values():
            sched.finish(item, [])
        ctx.failures.flush(time.monotonic(), final=True)
        bar.n = sched.finished_tasks
        bar.close()
        if hasattr(ctx.backend, "close"):
            await ctx.backend.close()  # the HTTP session belongs to this event loop
        for sig in signals:
            loop.remove_signal_handler(sig)


async def attempt(ctx: Context, item: WorkItem) -> list[Attempt]:
    """Sample one request, then extract, execute, score and store each of its samples."""
    task = ctx.tasks[item.task_id]
    if item.parent is None:
        prompt = ctx.first_prompts[task.id]
    else:
        prompt = as_sent(task_prompt(task, item.parent, ctx.fmt), ctx.cfg, ctx.tokenizer)
    request = CompletionRequest(task.id, item.indices[0], prompt, item.seed, n=len(item.indices),
                                sampling=ctx.cfg.sampling)
    completion = await ctx.backend.complete(request)
    extractions = [extract_program(text) for text in completion.texts]
    # All of a request's programs go to the pool at once, so they run side by side.
    pending = [asyncio.wrap_future(ctx.pool.submit(e.code, task)) if e.code else None for e in extractions]
    attempts = []
    reasons = completion.finish_reasons or (None,) * len(completion.texts)
    sent = prompt_hash(prompt)  # once per request: every sample of it had the same prompt
    for index, text, reason, extraction, result_future in zip(item.indices, completion.texts, reasons, extractions,
                                                               pending):
        result = await result_future if result_future is not None else None
        a = Attempt(
            task_id=task.id, index=index, kind=item.kind,
            parent=item.parent.index if item.parent else None, code=extraction.code, result=result,
            hardcoded_p=hardcoded_probability(extraction.code, task, result) if result else None,
            completion=text, extract_reason=extraction.reason, prompt_hash=sent,
            sample_seconds=completion.seconds, endpoint=completion.endpoint,
            truncated=None if reason is None else reason == "length",
        )
        ctx.store.append(a)
        ctx.ballots[task.id].add(a)
        attempts.append(a)
    return attempts


def checkpoint(ctx: Context) -> None:
    """Vote over every attempt so far and rewrite the submission atomically; time it."""
    t0 = time.monotonic()
    write_submission(ctx.cfg.submission_path, build_submission(ctx.all_tasks, answers(ctx.ballots)))
    ctx.checkpoint_seconds = max(ctx.checkpoint_seconds, time.monotonic() - t0)
    ctx.checkpoints += 1
