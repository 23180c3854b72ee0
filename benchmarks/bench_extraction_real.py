"""Extraction on recorded completions of real models: how many keep a program that defines `transform`.

Reads completions.jsonl of the real-text corpus (scripts/build_real_corpus.py) and reports, per
model and overall: the share of completions whose extraction parses and defines `transform`
at top level, among all completions, among those whose text contains `def transform`, and among
those holding a complete one (`complete_transform`: some `def transform` whose function, cut from
its line to the next line indented no deeper or a fence, parses on its own); the failures by reason; and agreement with the recording harness's own extractor where both found
a program. `--baseline FILE` runs another extraction.py (e.g. the code before a change) side by side.
  .venv/bin/python benchmarks/bench_extraction_real.py /work/corpus/completions.jsonl [--baseline OLD.py]
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import re
import sys
import textwrap
import time
from collections import Counter, defaultdict
from pathlib import Path

from arc_induct import extraction


def load_extractor(path: Path | None):
    if path is None:
        return extraction.extract_program
    spec = importlib.util.spec_from_file_location("baseline_extraction", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod.extract_program


def defines_transform(code: str | None) -> ast.Module | None:
    if not code:
        return None
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return tree if any(isinstance(n, ast.FunctionDef) and n.name == "transform" for n in tree.body) else None


def complete_transform(text: str) -> bool:
    """Some `def transform` in `text` whose function parses on its own: the completion holds a
    whole program, whatever else around it (prose, other blocks, an unfinished test) is broken."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if not re.match(r"\s*def\s+transform\s*\(", line):
            continue
        indent, end = len(line) - len(line.lstrip()), i + 1
        while end < len(lines) and not lines[end].lstrip().startswith("```") and (
                not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > indent):
            end += 1
        try:
            ast.parse(textwrap.dedent("\n".join(lines[i:end])))
            return True
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            pass
    return False


def measure(rows: list[dict], extract) -> dict:
    total, ok = Counter(), Counter()
    reasons: Counter[str] = Counter()
    agree = both = ours_only = ref_only = 0
    start = time.perf_counter()
    for row in rows:
        text = row["completion"]
        e = extract(text)
        tree = defines_transform(e.code)
        has_def = "def transform" in text
        complete = has_def and complete_transform(text)
        for key in ("all", f"model:{row['model']}") + (("with_def",) if has_def else ()) + \
                (("complete_transform",) if complete else ()):
            total[key] += 1
            ok[key] += tree is not None
        if tree is None and has_def:
            reasons[f"{e.reason or 'code without a top-level transform'} (finish: {row.get('finish_reason')})"] += 1
        ref = defines_transform(row.get("reference_program"))
        if ref is not None and tree is not None:
            both += 1
            agree += ast.dump(ref) == ast.dump(tree)
        elif ref is not None:
            ref_only += 1
        elif tree is not None:
            ours_only += 1
    seconds = time.perf_counter() - start
    return {"share": {k: round(ok[k] / total[k], 4) for k in total}, "count": dict(total),
            "failures_with_def": dict(reasons.most_common()), "seconds": round(seconds, 1),
            "reference": {"both": both, "same_program": agree, "only_ours": ours_only, "only_reference": ref_only}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("completions", type=Path)
    ap.add_argument("--baseline", type=Path, help="another extraction.py to compare with")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    rows = [json.loads(line) for line in args.completions.open()]
    report = {"after": measure(rows, load_extractor(None))}
    if args.baseline:
        report["before"] = measure(rows, load_extractor(args.baseline))
    print(f"{len(rows)} completions of {len({r['model'] for r in rows})} models")
    keys = ["all", "with_def", "complete_transform"] + sorted(k for k in report["after"]["share"] if k.startswith("model:"))
    print(f"{'':62} {'n':>6} " + " ".join(f"{n:>8}" for n in report))
    for k in keys:
        print(f"{k[:62]:62} {report['after']['count'][k]:>6} " + " ".join(f"{report[n]['share'][k]:>8.2%}" for n in report))
    for n in report:
        print(f"{n}: {report[n]['seconds']} s; vs the harness's extractor: {report[n]['reference']}")
        for reason, count in list(report[n]["failures_with_def"].items())[:6]:
            print(f"    {count:>5}  {reason}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
