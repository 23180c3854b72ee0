import json
import subprocess
import sys

import pytest

from arc_induct.cli import main
from arc_induct.submission import build_submission, write_submission


def test_score_and_validate_on_real_dataset(tmp_path, arc1_eval, capsys):
    answers = {t.id: [[out] for out in t.test_outputs] for t in arc1_eval[:100]}
    sub = write_submission(tmp_path / "s.json", build_submission(arc1_eval, answers))
    assert main(["validate", str(sub), "--dataset", "arc-agi-1/evaluation"]) == 0
    assert main(["score", str(sub), "--dataset", "arc-agi-1/evaluation", "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "score: 100 / 400 = 25.00%" in out
    assert json.loads((tmp_path / "r.json").read_text())["score"] == 100


def test_validate_reports_faults_with_exit_1(tmp_path, capsys):
    p = tmp_path / "s.json"
    p.write_text("{}")
    assert main(["validate", str(p), "--dataset", "arc-agi-2/evaluation"]) == 1
    out = capsys.readouterr().out
    assert "INVALID: 120 fault(s)" in out


def test_bad_input_is_one_line_error(tmp_path):
    bad = tmp_path / "x_challenges.json"
    bad.write_text('{"t1": {"train": [], "test": []}}')
    r = subprocess.run([sys.executable, "-m", "arc_induct", "tasks", "--dataset", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "task t1" in r.stderr and "Traceback" not in r.stderr


def test_help_lists_verbs():
    r = subprocess.run([sys.executable, "-m", "arc_induct", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "score" in r.stdout and "validate" in r.stdout


# ---- sampling verbs -------------------------------------------------------------------------

def test_quantize_without_its_venv_is_one_line_error_naming_the_fix(tmp_path, tiny_model):
    r = subprocess.run([sys.executable, "-m", "arc_induct", "quantize", str(tiny_model), "--out",
                        str(tmp_path / "q"), "--python", str(tmp_path / "no-venv/bin/python")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "no-venv/bin/python does not exist" in r.stderr and "bash scripts/setup.sh" in r.stderr


def test_make_tiny_model_writes_a_servable_folder(tmp_path, capsys):
    assert main(["make-tiny-model", str(tmp_path / "m")]) == 0
    assert {"config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja"} <= {
        p.name for p in (tmp_path / "m").iterdir()}
    assert capsys.readouterr().out.startswith(f"wrote {tmp_path / 'm'}")


@pytest.mark.vllm
def test_run_against_a_chat_endpoint_with_the_key_in_the_environment(keyed_server, tmp_path):
    """The README's hosted-model command against a real keyed server: with the key it samples and
    the key is in no file and no output; without it the run stops at once with one line naming the
    variable, and the fallback submission is still there."""
    import os

    from arc_induct.tasks import by_size, load_tasks

    url, key, model = keyed_server
    # One small real task in a folder: loading and rendering a whole dataset would eat the budget.
    task = by_size(load_tasks("arc-agi-1/evaluation"))[0]
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / f"{task.id}.json").write_text(json.dumps({
        "train": [{"input": p.input, "output": p.output} for p in task.train],
        "test": [{"input": g, "output": o} for g, o in zip(task.test_inputs, task.test_outputs)]}))
    base = [sys.executable, "-m", "arc_induct", "run", "--backend", "openai", "--api", "chat", "--endpoints", url,
            "--served-model-name", "arc-induct", "--model", str(model), "--dataset", str(tmp_path / "tasks"),
            "--samples-per-task", "4", "--max-tokens", "64", "--budget-seconds", "12",
            "--api-key-env", "ARC_TEST_KEY"]
    env = {k: v for k, v in os.environ.items() if k != "ARC_TEST_KEY"}
    ok = subprocess.run(base + ["--out", str(tmp_path / "ok")], env={**env, "ARC_TEST_KEY": key},
                        capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr[-2000:]
    report = json.loads((tmp_path / "ok/report.json").read_text())
    # Past 4 samples the budget grows while time is left (the scheduler's extend_budget).
    assert report["attempts"] >= 4 and report["failed_requests"] == 0
    recorded = [json.loads(line) for line in (tmp_path / "ok/completions.jsonl").read_text().splitlines()]
    assert report["truncated"] == sum(r == "length" for row in recorded for r in row["finish_reasons"])
    assert f"{report['truncated']} (" in ok.stdout and "cut at max_tokens" in ok.stdout
    files = [p for p in (tmp_path / "ok").rglob("*") if p.is_file()]
    assert not [p for p in files if key in p.read_text(errors="replace")] and key not in ok.stdout + ok.stderr

    no_key = subprocess.run(base + ["--out", str(tmp_path / "no")], env=env, capture_output=True, text=True,
                            timeout=120)
    assert no_key.returncode == 2 and "Traceback" not in no_key.stderr
    last = no_key.stderr.strip().splitlines()[-1]
    assert last.startswith("arc-induct: error: ") and "$ARC_TEST_KEY" in last
    assert (tmp_path / "no/submission.json").exists()
    assert not (tmp_path / "no/completions.jsonl").read_text()


def test_a_bad_prompt_format_is_one_line_naming_the_file(tmp_path):
    bad = tmp_path / "mine.jinja"
    bad.write_text("{% set user %}{{ train.inputs }}{% endset %}")
    r = subprocess.run([sys.executable, "-m", "arc_induct", "run", "--backend", "replay", "--replay",
                        str(tmp_path / "none.jsonl"), "--prompt-format", str(bad), "--out", str(tmp_path / "out")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith(f"arc-induct: error: {bad}")
    assert "inputs" in r.stderr


def test_a_malformed_replay_file_is_one_line_and_the_fallback_stays(tmp_path, capsys):
    bad = tmp_path / "rec.jsonl"
    bad.write_text('{"task_id": "x", "index": "zero", "texts": []}\n')
    out = tmp_path / "run"
    assert main(["run", "--backend", "replay", "--replay", str(bad), "--dataset", "arc-agi-1/evaluation",
                 "--tasks", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"arc-induct: error: {bad}: line 1: not a recorded completion (needs task_id, an integer " \
                      "index and a list of texts)"
    assert (out / "submission.json").exists()
