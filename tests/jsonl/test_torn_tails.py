"""JSONL files whose last line was cut by a crash: the cut line is dropped, anything else named."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minireason.atomic import atomic_write_jsonl
from minireason.errors import DataError
from minireason.jsonl import jsonl_line, read_jsonl, read_jsonl_tolerant
from minireason.training.metrics import read_metrics


def _records_bytes(records):
    return "".join(jsonl_line(record) for record in records).encode("utf-8")


@given(texts=st.lists(st.text(min_size=1, max_size=8), min_size=2, max_size=4),
       cut_fraction=st.floats(0.01, 0.99))
def test_a_last_line_cut_anywhere_is_dropped(tmp_path_factory, texts, cut_fraction):
    records = [{"index": i, "text": text + "é€😀"} for i, text in enumerate(texts)]
    data = _records_bytes(records)
    last_start = len(_records_bytes(records[:-1]))
    cut = last_start + max(1, int((len(data) - 1 - last_start) * cut_fraction))  # inside the last line
    path = tmp_path_factory.mktemp("torn") / "results.jsonl"
    path.write_bytes(data[:cut])
    read, torn = read_jsonl_tolerant(path)
    assert read == records[:-1] and torn


def test_cut_inside_a_multibyte_character(tmp_path):
    data = _records_bytes([{"index": 0, "problem": "é"}, {"index": 1, "problem": "ééé"}])
    cut = data.rindex("é".encode()) + 1  # between the two bytes of é
    path = tmp_path / "r.jsonl"
    path.write_bytes(data[:cut])
    assert read_jsonl_tolerant(path) == ([{"index": 0, "problem": "é"}], True)
    (tmp_path / "metrics.jsonl").write_bytes(data[:cut])
    assert read_metrics(tmp_path / "metrics.jsonl") == [{"index": 0, "problem": "é"}]


def test_whole_file_is_not_torn(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(_records_bytes([{"a": 1}, {"a": 2}]))
    assert read_jsonl_tolerant(path) == ([{"a": 1}, {"a": 2}], False)


@pytest.mark.parametrize("bad_line, message", [(b'{"a": \xff}', "not valid UTF-8"),
                                               (b'{"a": ', "not valid JSON"),
                                               (b"[1, 2]", "expected a JSON object")])
def test_bad_line_before_the_last_names_file_and_line(tmp_path, bad_line, message):
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"a": 1}\n' + bad_line + b'\n{"a": 3}\n')
    with pytest.raises(DataError, match=f"r.jsonl:2: {message}"):
        read_jsonl_tolerant(path)
    with pytest.raises(DataError, match="r.jsonl:2"):
        read_metrics(path)


def test_record_check_names_file_and_line(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(_records_bytes([{"index": 0}, {"index": "1"}, {"index": 2}]) + b'{"ind')

    def index_is_int(record):
        index = record.get("index")
        return None if isinstance(index, int) and not isinstance(index, bool) else f"index {index!r} is not an int"

    with pytest.raises(DataError, match=r"r.jsonl:2: index '1' is not an int"):
        read_jsonl_tolerant(path, check=index_is_int)
    path.write_bytes(_records_bytes([{"index": 0}, {"index": 1}]) + b'{"ind')
    assert read_jsonl_tolerant(path, check=index_is_int) == ([{"index": 0}, {"index": 1}], True)


def test_strict_reader_refuses_a_bad_last_line(tmp_path):
    path = tmp_path / "problems.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": \xc3')
    with pytest.raises(DataError, match="problems.jsonl:2: not valid UTF-8"):
        read_jsonl(path)


def test_lone_surrogate_round_trips(tmp_path):
    record = {"problem": "a\udc80b", "gold": "é"}
    line = jsonl_line(record)
    line.encode("utf-8")  # writable
    assert json.loads(line) == record
    assert json.loads(jsonl_line({"gold": "é"})) == {"gold": "é"} and "é" in jsonl_line({"gold": "é"})
    atomic_write_jsonl(tmp_path / "r.jsonl", [record])
    assert read_jsonl(tmp_path / "r.jsonl") == [record]
