"""Replay of recorded completions (no server): lookups, gaps, exhaustion, refused recordings."""

import asyncio

import orjson
import pytest

from arc_induct.prompts import prompt_hash
from arc_induct.replay import ReplayBackend
from arc_induct.router import Completion, CompletionRequest, RouterError, SamplingConfig
from arc_induct.scheduler import attempt_seed


def req(task_id, index, prompt, n=1):
    return CompletionRequest(task_id, index, prompt, attempt_seed(0, task_id, index), n=n, sampling=SamplingConfig())


def _row(task_id="t1", index=1, prompt="p"):
    c = Completion(task_id, index, ("x", "y"), "http://h:1", 0.5, 10, 4)
    return {**c.to_row(), "prompt_hash": prompt_hash(prompt)}


def test_replay_serves_the_recorded_completion(tmp_path):
    path = tmp_path / "rec.jsonl"
    path.write_bytes(orjson.dumps(_row()) + b"\n")
    got = asyncio.run(ReplayBackend(path).complete(req("t1", 1, "p", n=2)))
    assert got == Completion("t1", 1, ("x", "y"), "http://h:1", 0.5, 10, 4)
    # Split differently than recorded (a budget extension does that): each sample is still served.
    assert asyncio.run(ReplayBackend(path).complete(req("t1", 2, "p", n=2))).texts == ("y",)


def test_replay_of_an_unrecorded_attempt_names_task_and_attempt(tmp_path):
    path = tmp_path / "rec.jsonl"
    path.write_bytes(orjson.dumps(_row()) + b"\n")
    with pytest.raises(RouterError, match="task t1 attempt 3") as e:
        asyncio.run(ReplayBackend(path).complete(req("t1", 3, "p")))
    assert e.value.cause == "replay_exhausted" and not e.value.transient  # the recording covers 1 and 2


def test_replay_tells_a_gap_from_the_end_of_a_task_s_recordings(tmp_path):
    path = tmp_path / "rec.jsonl"
    path.write_bytes(b"".join(orjson.dumps(_row(index=i)) + b"\n" for i in (0, 4)))  # 0-1, 4-5: ends at 6
    backend = ReplayBackend(path)
    causes = []
    for index in (2, 6, 0):
        with pytest.raises(RouterError) as e:
            asyncio.run(backend.complete(req("t1" if index else "t2", index, "p")))
        causes.append(e.value.cause)
    assert causes == ["replay_missing", "replay_exhausted", "replay_exhausted"]  # t2 has no recording at all


def test_replay_refuses_a_changed_prompt(tmp_path):
    path = tmp_path / "rec.jsonl"
    path.write_bytes(orjson.dumps(_row(prompt="old")) + b"\n")
    with pytest.raises(RouterError, match="different prompt") as e:
        asyncio.run(ReplayBackend(path).complete(req("t1", 1, "new")))
    assert e.value.cause == "replay_mismatch"


def test_replay_names_file_and_line_of_a_malformed_record(tmp_path):
    path = tmp_path / "rec.jsonl"
    path.write_bytes(orjson.dumps(_row()) + b"\n{not json\n")
    with pytest.raises(RouterError, match=r"rec.jsonl: line 2"):
        ReplayBackend(path)


