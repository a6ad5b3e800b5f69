"""The results file: quoting, formula neutralisation, odd names, torn records."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from watcher.results import COLUMNS, ResultsFile, Row, complete_length, display_name, safe_cell

ODD = ["a,b.png", 'quo"te.png', "new\nline.png", "=cmd.png", "+plus.png", "-minus.png", "@at.png", "ünïcødé.png",
       "x" * 220 + ".png", "semi;colon.png", "tab\there.png", "space name.png", "\ttab-first.png", "sub/dir/ok.png"]


def row(name: str, claim: str = "c1") -> Row:
    return Row(name, "7", "0.9900", "ok", "", "2026-01-01T00:00:00.000Z", "ab" * 32, "digits-123", claim)


def read(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8", errors="strict") as f:
        return list(csv.reader(f))


def test_odd_names_round_trip_and_formulas_are_neutralised(tmp_path: Path) -> None:
    sink = ResultsFile(tmp_path / "results.csv")
    names = [*ODD, display_name(os.fsdecode(b"bytes-\xff\xfe.png"))]
    sink.append([row(n, f"c{i}") for i, n in enumerate(names)])
    sink.close()
    got = read(tmp_path / "results.csv")
    assert got[0] == COLUMNS
    assert {len(r) for r in got} == {len(COLUMNS)}
    files = [r[0] for r in got[1:]]
    for n, f in zip(names, files, strict=True):
        assert f == (("'" + n) if n[0] in "=+-@\t" else n)
    assert not any(c.startswith(("=", "+", "-", "@", "\t")) for r in got for c in r)
    assert files[-1] == "bytes-\\xff\\xfe.png"


def test_safe_cell() -> None:
    assert safe_cell("=1+1") == "'=1+1" and safe_cell("a=b") == "a=b" and safe_cell("") == ""


def test_torn_last_record_is_cut_on_open(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    sink = ResultsFile(path)
    sink.append([row("a.png", "c1"), row("new\nline.png", "c2")])
    sink.close()
    whole = path.read_bytes()
    with open(path, "ab") as f:
        f.write(b'"half,wri\nt')  # a power cut in the middle of a quoted, multi-line cell
    ResultsFile(path).close()
    assert path.read_bytes() == whole
    assert complete_length(b'a,"x\ny"\nb,c') == len(b'a,"x\ny"\n')


def test_header_written_once_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    for i in range(3):
        s = ResultsFile(path)
        s.append([row(f"{i}.png", f"c{i}")])
        s.close()
    got = read(path)
    assert got[0] == COLUMNS and len(got) == 4 and sum(r == COLUMNS for r in got) == 1
