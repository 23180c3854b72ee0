"""Replay: serve the completions a run recorded, so every later stage re-runs without a model.

Covered: `ReplayBackend`, the same `complete(CompletionRequest) -> Completion` coroutine as the
router, over a `completions.jsonl` written by `Router(record=...)`; samples looked up one by one;
a recording made for another prompt refused; failures as `RouterError` with a cause
(`replay_exhausted`, `replay_missing`, `replay_mismatch`, `replay_file`), like every backend.
Not covered: recording (router.py does it as it samples).
"""

from __future__ import annotations

from pathlib import Path

from arc_induct.jsonl import JsonlError, read_jsonl
from arc_induct.prompts import prompt_hash
from arc_induct.router import Completion, CompletionRequest, RouterError


class ReplayBackend:
    """Serves completions recorded by `Router(record=...)`: same `complete` coroutine, no server.

    Looked up by sample: a recorded request (task_id, index, texts) holds attempts index,
    index + 1, ...; a request gets the recorded samples from its first index on, up to n (so a
    replay serves every recorded sample even when the budget splits requests differently than the
    recording did). A recorded prompt that differs from the request's is an error unless
    check_prompt=False, because then the replay would not be what was asked for. A request past a
    task's last recording fails as `replay_exhausted` (the run closes the task); one missing
    between recordings (a request that failed while recording) as `replay_missing`."""

    failures = 0  # nothing is ever re-sent (the Router counts its retries here)

    def __init__(self, path: Path, check_prompt: bool = True) -> None:
        self.path, self.check_prompt = Path(path), check_prompt
        self.samples: dict[tuple[str, int], tuple[str, dict]] = {}  # (task_id, attempt index) -> text, its row
        self.ends: dict[str, int] = {}  # per task: one past the last recorded attempt index
        try:
            for lineno, row in read_jsonl(self.path):
                task_id, index, texts = row.get("task_id"), row.get("index"), row.get("texts")
                if not isinstance(task_id, str) or type(index) is not int or not isinstance(texts, list):
                    raise RouterError(f"{self.path}: line {lineno}: not a recorded completion "
                                      f"(needs task_id, an integer index and a list of texts)", "replay_file")
                for j, text in enumerate(texts):
                    self.samples[(task_id, index + j)] = (text, row)
                self.ends[task_id] = max(self.ends.get(task_id, 0), index + len(texts))
        except JsonlError as e:
            raise RouterError(str(e), "replay_file") from None

    async def __aenter__(self) -> "ReplayBackend":
        return self

    async def __aexit__(self, *exc) -> None:
        pass

    def ready_in(self) -> float:
        return 0.0  # a file is always there

    async def complete(self, req: CompletionRequest) -> Completion:
        got = []
        while len(got) < req.n and (req.task_id, req.index + len(got)) in self.samples:
            got.append(self.samples[(req.task_id, req.index + len(got))])
        if not got:
            exhausted = req.index >= self.ends.get(req.task_id, 0)
            raise RouterError(f"{self.path}: no recorded completion for task {req.task_id} attempt {req.index}"
                              + (" (its recordings are exhausted)" if exhausted else ""),
                              "replay_exhausted" if exhausted else "replay_missing")
        if self.check_prompt and any(row.get("prompt_hash") not in (None, prompt_hash(req.prompt)) for _, row in got):
            raise RouterError(f"{self.path}: task {req.task_id} attempt {req.index} was recorded "
                              f"for a different prompt", "replay_mismatch")
        row = got[0][1]
        reasons = tuple(_reason(r, req.index + k - r["index"]) for k, (_, r) in enumerate(got))
        return Completion(task_id=req.task_id, index=req.index, texts=tuple(text for text, _ in got),
                          endpoint=str(row.get("endpoint", "replay")), seconds=float(row.get("seconds", 0.0)),
                          prompt_tokens=int(row.get("prompt_tokens", 0)),
                          completion_tokens=int(row.get("completion_tokens", 0)),
                          finish_reasons=reasons if any(reasons) else ())  # () as recorded without them


def _reason(row: dict, j: int) -> str | None:
    """The finish reason of a recorded row's j-th text (None when the recording has none)."""
    reasons = row.get("finish_reasons") or ()
    return reasons[j] if j < len(reasons) else None
