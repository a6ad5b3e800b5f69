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
