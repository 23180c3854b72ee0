import pytest

from arc_induct.jsonl import Appender, JsonlError, read_jsonl


def test_appended_rows_are_read_back_with_their_line_numbers(tmp_path):
    p = tmp_path / "x.jsonl"
    with Appender(p) as out:
        out.append({"a": 1})
        out.append({"a": 2})
    assert list(read_jsonl(p)) == [(1, {"a": 1}), (2, {"a": 2})]


def test_a_torn_tail_longer_than_one_read_is_cut_on_resume(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_bytes(b'{"a": 1}\n{"a": "' + b"x" * 200_000)  # killed mid-write of a big row
    assert [n for n, _ in read_jsonl(p)] == [1]
    with Appender(p, resume=True) as out:
        out.append({"a": 2})
    assert p.read_bytes() == b'{"a": 1}\n{"a":2}\n'


def test_a_file_with_rows_is_not_overwritten_without_resume(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_bytes(b'{"a": 1}\n')
    with pytest.raises(JsonlError, match="already exists; pass --resume"):
        Appender(p)
    assert p.read_bytes() == b'{"a": 1}\n'


@pytest.mark.parametrize("body, message", [(b"[1, 2]\n", "line 1 is a JSON list"),
                                           (b'{"a": 1}\n{oops\n{"a": 1}\n', "line 2 is not valid JSON")])
def test_bad_lines_name_file_and_line(tmp_path, body, message):
    p = tmp_path / "x.jsonl"
    p.write_bytes(body)
    with pytest.raises(JsonlError, match=f"x.jsonl: {message}"):
        list(read_jsonl(p))


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(JsonlError, match="nope.jsonl: cannot read"):
        list(read_jsonl(tmp_path / "nope.jsonl"))
