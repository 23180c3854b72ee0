import pytest

from arc_induct.store import AttemptStore, StoreError, read_rows


def test_rows_survive_without_close(tmp_path):
    s = AttemptStore(tmp_path / "a.jsonl")
    s.append({"task_id": "t", "attempt_id": "t/0"})
    # No close: what a SIGKILL leaves. Flushed rows are readable by another reader.
    assert [r["attempt_id"] for r in read_rows(tmp_path / "a.jsonl")] == ["t/0"]


def test_torn_last_line_is_skipped_and_cut_on_resume(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_bytes(b'{"task_id":"t","attempt_id":"t/0"}\n{"task_id":"t","attem')
    assert len(list(read_rows(p))) == 1
    with AttemptStore(p, resume=True) as s:
        s.append({"task_id": "t", "attempt_id": "t/1"})
    assert [r["attempt_id"] for r in read_rows(p)] == ["t/0", "t/1"]


def test_corrupt_middle_line_names_file_and_line(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_bytes(b'{"task_id":"t"}\n{oops\n{"task_id":"t"}\n')
    with pytest.raises(StoreError, match=r"a.jsonl: line 2"):
        list(read_rows(p))


def test_existing_store_needs_resume(tmp_path):
    p = tmp_path / "a.jsonl"
    AttemptStore(p).append({"task_id": "t"})
    with pytest.raises(StoreError, match="--resume"):
        AttemptStore(p)
