"""The review page in a real browser (Debian's Chromium, driven by Playwright) beside a real
running daemon: keyboard-only correct / accept / reject / undo, two tabs on one file, a file
removed behind the page's back, hostile names, the password and the cross-site guard."""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import EXE, REPO, DaemonProc, rows, write_digits
from watcher.corrections import Desk

CHROMIUM = "/usr/bin/chromium"
ODD = ["<script>alert(1)<", "=cmd.png", "new\nline.png", "quote\"comma,.png"]  # the first is a folder


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


class ReviewServer:
    def __init__(self, outbox: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = outbox.parent / f"review-{self.port}.log"
        self.p = subprocess.Popen([*EXE, "review", "--outbox", str(outbox), "--port", str(self.port), *extra],
                                  cwd=REPO, stdout=open(self.log, "wb"), stderr=subprocess.STDOUT,
                                  env=dict(os.environ, **(env or {})))
        end = time.time() + 60
        while time.time() < end and self.p.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"review server not listening: {self.log.read_text()}")

    def stop(self) -> None:
        self.p.terminate()
        self.p.wait(20)


@pytest.fixture
def queue(tmp_path: Path, mnist: dict[str, np.ndarray]) -> Iterator[tuple[Path, Path, DaemonProc, dict[str, str]]]:
    """12 MNIST digits and 3 oddly named files in review/ (review_threshold 1), then a daemon left
    running on the same outbox."""
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    names = write_digits(inbox, mnist["x_test"][:12], prefix="n")
    truth = {n: str(mnist["y_test"][i]) for i, n in enumerate(names)}
    (inbox / ODD[0]).mkdir()
    for k, odd in enumerate([f"{ODD[0]}/script>.png", *ODD[1:]]):
        shutil.copyfile(inbox / names[k], inbox / odd)
        truth[odd] = truth[names[k]]
    env = {"DIGIT_WATCHER_REVIEW_THRESHOLD": "1"}
    r = subprocess.run([*EXE, "run", "--once", "--inbox", str(inbox), "--outbox", str(outbox)], cwd=REPO,
                       capture_output=True, text=True, timeout=300, env=dict(os.environ, **env))
    assert r.returncode == 0, r.stderr[-2000:]
    assert len(list((outbox / "review").rglob("*.png"))) == 16
    d = DaemonProc(inbox, outbox, env=env)
    d.wait_ready()
    yield inbox, outbox, d, truth
    d.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip("needs Debian's chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu",
                                                               "--disable-background-networking"])
        yield b
        b.close()


def corrections(outbox: Path) -> list[dict[str, str]]:
    f = outbox / "corrections.csv"
    with open(f, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def watch_dialogs(page: Any) -> list[str]:
    """Every alert/confirm the page opens (a name that ran as script would)."""
    seen: list[str] = []

    def on_dialog(dlg: Any) -> None:
        seen.append(dlg.message)
        dlg.dismiss()

    page.on("dialog", on_dialog)
    return seen


def wait_text(page: Any, selector: str, ok: Any, timeout: float = 10) -> str:
    """Poll an element's text until `ok(text)` (the page's CSP forbids Playwright's eval'd waits)."""
    end = time.time() + timeout
    text = page.inner_text(selector)
    while not ok(text) and time.time() < end:
        page.wait_for_timeout(5)
        text = page.inner_text(selector)
    assert ok(text), f"{selector}: {text!r}"
    return str(text)


def wait_name_change(page: Any, before: str, timeout: float = 5) -> None:
    end = time.time() + timeout
    while time.time() < end and page.inner_text("#name") == before:
        page.wait_for_timeout(5)


def test_keyboard_only_correct_accept_reject_undo_then_the_final_table(
        queue: tuple[Path, Path, DaemonProc, dict[str, str]], browser: Any, tmp_path: Path) -> None:
    _, outbox, daemon, truth = queue
    by_file = {r["file"]: r for r in rows(outbox)}
    srv = ReviewServer(outbox)
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    dialogs = watch_dialogs(page)
    try:
        page.goto(srv.url + "/")
        wait_text(page, "#runners", lambda t: len(t) > 0)
        assert page.inner_text("#left") == "16"
        decided: dict[str, str] = {}
        for k in range(16):
            name = page.inner_text("#name")
            row = next(r for f, r in by_file.items() if f.lstrip("'") == name)
            assert page.inner_text("#reading") == row["digit"]
            # why it is here: the row's reason (at a review threshold of 1, a confidence or raw score under 1)
            parts = row["error"].removeprefix("review: ").split("; ")
            assert row["error"].startswith("review: ") and all(
                re.fullmatch(r"confidence under 1|may not be digits \(the model's raw score 0\.\d{3}\)", x) for x in parts), row
            assert page.inner_text("#why") == row["error"].removeprefix("review: ")
            if k == 1:
                keys, after = ["Enter"], row["digit"]  # accept the reading shown
            elif k == 2:
                keys, after = ["x", "Enter"], "x"
            elif k == 3:
                keys, after = ["8", "8", "Backspace", "Backspace", truth[name], "Enter"], truth[name]  # Backspace edits
            else:
                keys, after = [truth[name], "Enter"], truth[name]
            for key in keys:
                page.keyboard.press(key)
            decided[name] = after
            if k < 15:
                wait_name_change(page, name)
            if k == 4:
                page.screenshot(path=str(tmp_path / "review-page.png"))
                if os.environ.get("DIGIT_WATCHER_SCREENSHOT"):
                    shutil.copyfile(tmp_path / "review-page.png", os.environ["DIGIT_WATCHER_SCREENSHOT"])
        wait_text(page, "#left", lambda t: t == "0")
        # undo the last decision: the file is back in review/ and on the page
        last = name
        page.keyboard.press("u")
        wait_text(page, "#left", lambda t: t == "1")
        assert page.inner_text("#name") == last
        assert (outbox / "review" / last).exists() or any(p.name == last for p in (outbox / "review").rglob("*"))
        page.keyboard.press(truth[last])
        page.keyboard.press("Enter")
        wait_text(page, "#left", lambda t: t == "0")
        body = page.inner_text("body")
    finally:
        page.close()
        srv.stop()
    assert dialogs == []  # no name ran as script
    got = corrections(outbox)
    final = {r["file"].lstrip("'"): r["after"] for r in got}  # the last row of each claim
    assert final == decided
    assert [r["after"] for r in got if r["file"].lstrip("'") == last] == [truth[last], "", truth[last]]
    for name, after in decided.items():
        dest = outbox / ("failed" if after == "x" else "processed") / name
        assert dest.exists(), name
    assert list((outbox / "review").rglob("*.png")) == []
    assert "0 left to review" in body.replace("\n", " ")
    assert daemon.p.poll() is None  # the daemon kept running on the same outbox
    r = subprocess.run([*EXE, "results", "--outbox", str(outbox)], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert r.returncode == 0, r.stderr
    table = {row["file"].lstrip("'"): row for row in csv.DictReader(io.StringIO(r.stdout))}
    assert len(table) == 16
    for name, after in decided.items():
        if after == "x":
            assert (table[name]["status"], table[name]["digit"]) == ("error", "")
        else:
            assert (table[name]["status"], table[name]["digit"], table[name]["confidence"]) == ("ok", after, "1.0000")
            assert table[name]["error"] == ""  # decided: no longer in review, no reason left
        assert table[name]["decided_by"] == "reviewer@127.0.0.1"


def test_odd_names_show_as_text(queue: tuple[Path, Path, DaemonProc, dict[str, str]], browser: Any) -> None:
    _, outbox, _, _ = queue
    srv = ReviewServer(outbox)
    page = browser.new_page()
    dialogs = watch_dialogs(page)
    seen = set()
    try:
        page.goto(srv.url + "/")
        for _ in range(16):
            name = page.inner_text("#name")
            seen.add(name)
            page.keyboard.press("Enter")
            wait_name_change(page, name)
    finally:
        page.close()
        srv.stop()
    assert {f"{ODD[0]}/script>.png", "=cmd.png", "new\nline.png", 'quote"comma,.png'} <= seen
    assert dialogs == []


def test_two_tabs_on_one_file_and_a_file_removed_behind_the_page(
        queue: tuple[Path, Path, DaemonProc, dict[str, str]], browser: Any) -> None:
    _, outbox, _, _ = queue
    srv = ReviewServer(outbox)
    a, b = browser.new_page(), browser.new_page()
    try:
        a.goto(srv.url + "/")
        b.goto(srv.url + "/")
        first = a.inner_text("#name")
        assert b.inner_text("#name") == first
        a.keyboard.press("7")
        a.keyboard.press("Enter")
        wait_name_change(a, first)
        b.keyboard.press("3")
        b.keyboard.press("Enter")
        wait_text(b, "#message", lambda t: "already decided" in t)
        assert "(7)" in b.inner_text("#message")
        assert b.inner_text("#name") != first  # b moved on to the queue as it is now
        # a file deleted from review/ while it is on the page: a clear message, nothing recorded
        current = b.inner_text("#name")
        victim = next(p for p in (outbox / "review").rglob("*") if p.name == current)
        victim.unlink()
        b.keyboard.press("Enter")
        wait_text(b, "#message", lambda t: "no longer in review" in t)
        assert b.inner_text("#name") != current
    finally:
        a.close()
        b.close()
        srv.stop()
    got = corrections(outbox)
    assert [(r["file"], r["after"]) for r in got] == [(first, "7")]


def _post(url: str, body: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json", **headers},
                                 method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_password_cross_site_posts_and_open_binds(queue: tuple[Path, Path, DaemonProc, dict[str, str]],
                                                  browser: Any) -> None:
    _, outbox, _, _ = queue
    r = subprocess.run([*EXE, "review", "--outbox", str(outbox), "--host", "0.0.0.0", "--port", str(free_port())],
                       capture_output=True, text=True, timeout=60, cwd=REPO, env=dict(os.environ, DIGIT_WATCHER_REVIEW_PASSWORD=""))
    assert r.returncode == 2 and "without a password" in r.stderr
    claim = Desk(outbox).queue()[0].claim
    srv = ReviewServer(outbox, env={"DIGIT_WATCHER_REVIEW_PASSWORD": "s3cret"})
    try:
        with pytest.raises(urllib.error.HTTPError) as no_pw:
            urllib.request.urlopen(srv.url + "/", timeout=10)
        assert no_pw.value.code == 401
        auth = {"Authorization": "Basic " + base64.b64encode(b"ana:s3cret").decode()}
        wrong = {"Authorization": "Basic " + base64.b64encode(b"ana:guess").decode()}
        assert _post(srv.url + "/api/decide", {"claim": claim, "after": "1"}, wrong)[0] == 401
        with urllib.request.urlopen(urllib.request.Request(srv.url + "/", headers=auth), timeout=10) as page:
            html = page.read().decode()
        token = html.split('data-token="')[1].split('"')[0]
        # a cross-site request: no token (another site cannot read it), or another origin
        assert _post(srv.url + "/api/decide", {"claim": claim, "after": "1"}, auth)[0] == 403
        assert _post(srv.url + "/api/decide", {"claim": claim, "after": "1"},
                     {**auth, "X-Review-Token": token, "Origin": "http://evil.example"})[0] == 403
        # a real browser on another origin posting a form at it
        other = browser.new_page()
        other.set_content(f'<form method="post" action="{srv.url}/api/decide" enctype="text/plain">'
                          f'<input name=\'{{"claim":"{claim}","after":"1","x":"\' value=\'"}}\'></form>')
        other.evaluate("document.forms[0].submit()")
        other.wait_for_timeout(500)
        other.close()
        assert not (outbox / "corrections.csv").exists()
        # the page itself, with the password, may decide (as its user)
        status, body = _post(srv.url + "/api/decide", {"claim": claim, "after": "1"},
                             {**auth, "X-Review-Token": token, "Origin": srv.url})
        assert status == 200, body
        assert _post(srv.url + "/api/decide", {"claim": claim, "after": "2"},
                     {**auth, "X-Review-Token": token})[0] == 409
        with urllib.request.urlopen(urllib.request.Request(srv.url + "/image/../../etc/passwd", headers=auth), timeout=10) as x:
            assert b"root:" not in x.read()
    except urllib.error.HTTPError as e:
        assert e.code in (404, 410), e
    finally:
        srv.stop()
    assert [(r["claim"], r["after"], r["decided_by"]) for r in corrections(outbox)] == [(claim, "1", "ana")]


def test_a_decision_cut_short_by_a_crash_is_finished_by_the_next_daemon_start(
        queue: tuple[Path, Path, DaemonProc, dict[str, str]]) -> None:
    inbox, outbox, daemon, _ = queue
    daemon.stop()
    desk = Desk(outbox)
    item = desk.queue()[0]
    # the row is written, the process dies before the move
    from watcher.corrections import Decision

    desk._append(Decision(item.claim, item.file, item.reading, "x", "test", "now"))
    assert Path(item.path).exists()
    again = DaemonProc(inbox, outbox)
    try:
        again.wait_ready()
    finally:
        again.stop()
    assert not Path(item.path).exists()
    assert (outbox / "failed" / item.file.lstrip("'")).exists() or any(
        p.name == Path(item.path).name for p in (outbox / "failed").rglob("*"))
    assert "moved 1 reviewed file(s)" in again.output()
    assert len(Desk(outbox).queue()) == 15


def test_a_file_of_several_digits_shows_each_digit_box_and_reading(tmp_path: Path, mnist: dict[str, np.ndarray],
                                                                     browser: Any) -> None:
    """A number in review: every digit's box from digits.csv is drawn where the image is shown,
    left to right as read, each labelled with its digit."""
    import cv2

    from watcher import compose

    inbox, outbox = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    rng = np.random.default_rng(4)
    d = compose.number(mnist["x_test"], mnist["y_test"], rng, n=5, field="plain", touching=False)
    cv2.imwrite(str(inbox / "number.png"), d.image)
    env = {"DIGIT_WATCHER_REVIEW_THRESHOLD": "1"}
    r = subprocess.run([*EXE, "run", "--once", "--inbox", str(inbox), "--outbox", str(outbox)], cwd=REPO,
                       capture_output=True, text=True, timeout=300, env=dict(os.environ, **env))
    assert r.returncode == 0, r.stderr[-2000:]
    row = rows(outbox)[0]
    assert row["status"] == "review" and int(row["count"]) >= 2
    with open(outbox / "digits.csv", newline="", encoding="utf-8") as f:
        digits = [x for x in csv.DictReader(f) if x["claim"] == row["claim"]]
    assert "".join(x["digit"] for x in digits) == row["text"].replace(" ", "")
    srv = ReviewServer(outbox)
    page = browser.new_page(viewport={"width": 1000, "height": 800})
    try:
        page.goto(srv.url + "/")
        end = time.time() + 10
        while len(page.query_selector_all("#boxes .box")) < len(digits) and time.time() < end:
            page.wait_for_timeout(20)
        boxes = page.query_selector_all("#boxes .box")
        assert [b.inner_text() for b in boxes] == [x["digit"] for x in digits]
        img = page.query_selector("#image").bounding_box()
        h, w = d.image.shape[:2]
        k = min(img["width"] / w, img["height"] / h)  # object-fit: contain
        x0 = img["x"] + (img["width"] - w * k) / 2
        y0 = img["y"] + (img["height"] - h * k) / 2
        for el, x in zip(boxes, digits, strict=True):
            bb = el.bounding_box()
            assert abs(bb["x"] - (x0 + int(x["x"]) * k)) <= 2 and abs(bb["y"] - (y0 + int(x["y"]) * k)) <= 2
            assert abs(bb["width"] - max(2, int(x["w"]) * k)) <= 2
        lefts = [b.bounding_box()["x"] for b in boxes]
        assert lefts == sorted(lefts)
        page.screenshot(path=str(tmp_path / "review-number.png"))
    finally:
        page.close()
        srv.stop()


def test_decisions_typed_ahead_are_sent_at_once_not_after_the_answer_before(
        queue: tuple[Path, Path, DaemonProc, dict[str, str]], browser: Any) -> None:
    """A person accepting readings as fast as the keys go: each decision is sent on its keypress,
    not after the answer to the one before. Chained (and with the queue reloaded between them once
    it ran short), the last few were still waiting in the page when the shared review-page check
    closed it, and stayed in review/. Here the server's answers are held back until every
    decision has been sent: chained, only the first ever is."""
    _, outbox, _, _ = queue
    srv = ReviewServer(outbox)
    page = browser.new_page()
    held: list[Any] = []
    page.route("**/api/decide", lambda route: held.append(route))  # answered below, all at once
    try:
        page.goto(srv.url + "/")
        wait_text(page, "#runners", lambda t: len(t) > 0)
        for _ in range(14):
            page.keyboard.press("Enter")  # accept the reading shown
        end = time.time() + 5
        while time.time() < end and len(held) < 14:
            page.wait_for_timeout(20)
        assert len(held) == 14, f"{len(held)} of 14 decisions sent before the first was answered"
        for route in held:
            route.continue_()
        end = time.time() + 30
        while time.time() < end and not ((outbox / "corrections.csv").exists() and len(corrections(outbox)) >= 14):
            page.wait_for_timeout(50)  # the first answer may not be written yet
    finally:
        page.close()
        srv.stop()
    got = [r["file"] for r in corrections(outbox)]
    assert len(got) == 14 and len(set(got)) == 14, got
    assert len(list((outbox / "review").rglob("*.png"))) == 16 - 14
