import json
import subprocess
import sys

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
