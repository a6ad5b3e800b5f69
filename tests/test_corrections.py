"""The review desk on its own: files found by name and content, never another file's."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from watcher.corrections import Desk
from watcher.errors import AlreadyDecided, BadDecision, NotInReview
from watcher.results import ResultsFile, Row, display_name


def outbox_with(tmp_path: Path, files: dict[bytes, bytes]) -> tuple[Path, dict[str, str]]:
    out = tmp_path / "out"
    (out / "review").mkdir(parents=True)
    rows, claims = [], {}
    for k, (name, data) in enumerate(files.items()):
        (out / "review").joinpath(os.fsdecode(name)).write_bytes(data)
        shown = display_name(os.fsdecode(name))
        rows.append(Row(shown, "3", "0.5000", "review", "", "t", hashlib.sha256(data).hexdigest(), "m", f"c{k}"))
        claims[shown] = f"c{k}"
    sink = ResultsFile(out / "results.csv")
    sink.append(rows)
    sink.close()
    return out, claims


def test_a_deleted_file_is_not_replaced_by_a_copy_under_another_name(tmp_path: Path) -> None:
    out, claims = outbox_with(tmp_path, {b"a.png": b"same bytes", b"b.png": b"same bytes", b"caf\xe9.png": b"other"})
    desk = Desk(out)
    assert [i.file for i in desk.queue()] == ["a.png", "b.png", "caf\\xe9.png"]
    (out / "review" / "a.png").unlink()
    with pytest.raises(NotInReview):
        desk.decide(claims["a.png"], "7", "me")
    assert (out / "review" / "b.png").exists()
    # a name that is not UTF-8 (escaped in the CSV) is found by its content
    desk.decide(claims["caf\\xe9.png"], "x", "me")
    assert os.listdir(os.fsencode(out / "failed")) == [b"caf\xe9.png"]
    with pytest.raises(AlreadyDecided):
        desk.decide(claims["caf\\xe9.png"], "1", "me")
    with pytest.raises(BadDecision):
        desk.decide(claims["b.png"], "7a", "me")
    desk.decide(claims["b.png"], "42", "me")
    assert (out / "processed" / "b.png").read_bytes() == b"same bytes"
    desk.undo(claims["b.png"], "me")
    assert [i.file for i in desk.queue()] == ["b.png"]
    assert (out / "review" / "b.png").exists()


def test_digit_boxes_are_read_incrementally_and_again_when_the_file_is_cut_back(tmp_path: Path) -> None:
    """The review page's boxes come from digits.csv, parsed only where it grew; a daemon start
    that cuts rows without a results row makes it shorter, and it is then read again."""
    outbox = tmp_path / "out"
    outbox.mkdir()
    f = outbox / "digits.csv"
    f.write_text("claim,file,index,line,x,y,w,h,digit,confidence\r\n"
                 "c1,a.png,0,0,1,2,3,4,7,0.9000\r\nc1,a.png,1,0,5,2,3,4,1,0.8000\r\n", encoding="utf-8")
    desk = Desk(outbox)
    assert [(b["x"], b["digit"], b["confidence"]) for b in desk.boxes("c1")] == [(1, "7", 0.9), (5, "1", 0.8)]
    assert desk.boxes("c2") == []
    with open(f, "a", encoding="utf-8", newline="") as fh:
        fh.write("c2,b.png,0,0,9,9,3,4,4,0.9900\r\nc2,b.png,1,1,9,19,3,4,2,0.9")  # the last row torn
    assert [b["digit"] for b in desk.boxes("c2")] == ["4"]
    with open(f, "a", encoding="utf-8", newline="") as fh:
        fh.write("900\r\n")
    assert [(b["digit"], b["line"]) for b in desk.boxes("c2")] == [("4", 0), ("2", 1)]
    assert len(desk.boxes("c1")) == 2  # nothing read twice
    f.write_text("claim,file,index,line,x,y,w,h,digit,confidence\r\nc3,c.png,0,0,1,1,1,1,3,0.5000\r\n",
                 encoding="utf-8")  # cut back (a crash's orphan rows) and grown again
    assert desk.boxes("c1") == [] and [b["digit"] for b in desk.boxes("c3")] == ["3"]
