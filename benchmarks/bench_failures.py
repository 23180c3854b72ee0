"""CPU and log bytes of runs whose backend fails: the figures of issue 15, old code vs new.

Each case runs `arc-induct run` in a subprocess (PYTHONPATH picks the code: a worktree's src/)
and reports wall seconds, CPU seconds of the run and every process it waited for (the execution
pool's workers included), and the bytes it wrote to stderr and stdout.

- replay-exhausted: `--backend replay` over the 40 shortest ARC-AGI-2 evaluation tasks with 16
  recorded completions each (2 per request), 120 s budget: the recordings run out long before it.
- fail-at-once: `--backend openai` against a local HTTP server that answers every completion with
  404 at once (the answer vLLM gives to a wrong model name; a stand-in server, because vLLM would
  take a minute to start for an answer it gives without doing any work), 60 s budget. A 4xx is not
  retried by the router, so nothing slows the failures down but the run itself.

Usage: python benchmarks/bench_failures.py --src /path/to/src --out DIR [--case NAME ...]
"""

from __future__ import annotations

import argparse
import http.server
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson

CASES = ("replay-exhausted", "fail-at-once")


def write_recordings(path: Path, per_task: int = 16, n: int = 2) -> Path:
    from arc_induct.tasks import load_tasks

    texts = ["Keep it.\n```python\ndef transform(grid):\n    return grid\n```", "no code, only words"]
    with open(path, "wb") as f:
        for t in load_tasks("arc-agi-2/evaluation"):
            for k in range(0, per_task, n):
                f.write(orjson.dumps({"task_id": t.id, "index": k, "texts": texts[:n], "endpoint": "replay",
                                      "seconds": 0.0, "prompt_tokens": 0, "completion_tokens": 0}) + b"\n")
    return path


class NotFound(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - the stdlib's name
        body = b'{"object":"error","message":"The model `arc-induct` does not exist.","code":404}'
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def measure(cmd: list[str], env: dict, out: Path) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    with open(out / "stderr.txt", "wb") as err, open(out / "stdout.txt", "wb") as so:
        rc = subprocess.run(cmd, env=env, stdout=so, stderr=err).returncode
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"rc": rc, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            "stderr_bytes": (out / "stderr.txt").stat().st_size, "stdout_bytes": (out / "stdout.txt").stat().st_size}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--src", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--case", action="append", choices=CASES)
    args = p.parse_args()
    env = dict(os.environ, PYTHONPATH=str(args.src.resolve()))
    args.out.mkdir(parents=True, exist_ok=True)
    for case in args.case or CASES:
        out = args.out / case
        out.mkdir(parents=True, exist_ok=True)
        base = [sys.executable, "-m", "arc_induct", "run", "--out", str(out / "run")]
        if case == "replay-exhausted":
            rec = write_recordings(out / "recorded.jsonl")
            figures = measure([*base, "--backend", "replay", "--replay", str(rec), "--tasks", "40",
                               "--budget-seconds", "120"], env, out)
        else:
            server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            try:
                figures = measure([*base, "--backend", "openai", "--endpoints",
                                   f"http://127.0.0.1:{server.server_address[1]}", "--tasks", "40",
                                   "--budget-seconds", "60"], env, out)
            finally:
                server.shutdown()
        print(orjson.dumps({"case": case, "src": str(args.src), **figures}).decode(), flush=True)


if __name__ == "__main__":
    main()
