"""The review page with 1,000 files in review/: time from a keypress to the next file's image on
screen, in headless Chromium (Debian's), over 200 decisions made with the keyboard.

    .venv/bin/python bench/review.py [--files 1000] [--decisions 200]

The outbox is made directly (1,000 MNIST test PNGs in review/ and their review rows), so the
figure is the page's and the server's alone. Measured: from the moment the key is pressed until
the new image has loaded and the file's name is on the page (checked every 2 ms in the page).
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from watcher.results import ResultsFile, Row, now_iso  # noqa: E402

WAIT = """([name]) => { window.__next = new Promise((done) => {
  const t0 = performance.now();
  const tick = () => {
    const im = document.getElementById('image');
    if (document.getElementById('name').textContent !== name && im.complete && im.naturalWidth > 0) done(performance.now() - t0);
    else setTimeout(tick, 2);
  };
  tick();
}); }"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--decisions", type=int, default=200)
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    root = Path(tempfile.mkdtemp(prefix="bench-review-"))
    outbox = root / "out"
    (outbox / "review").mkdir(parents=True)
    with np.load(a.shared / "data" / "mnist.npz") as d:
        x, y = d["x_test"][:a.files], d["y_test"][:a.files]
    sink = ResultsFile(outbox / "results.csv")
    rows = []
    for i, im in enumerate(x):
        name = f"n{i:05d}.png"
        cv2.imwrite(str(outbox / "review" / name), 255 - im)
        sha = hashlib.sha256((outbox / "review" / name).read_bytes()).hexdigest()
        rows.append(Row(name, str(y[i]), "0.8000", "review", "", now_iso(), sha, "bench", f"bench-{i:05d}"))
    sink.append(rows)
    sink.close()
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    srv = subprocess.Popen([sys.executable, "-m", "watcher.cli", "review", "--outbox", str(outbox), "--port", str(port)],
                           cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        end = time.time() + 60
        while time.time() < end:
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_context(bypass_csp=True).new_page()  # bypass: only so the timer can be injected
            t = time.perf_counter()
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector("#image")
            load_ms = (time.perf_counter() - t) * 1000
            lat = []
            for k in range(a.decisions):
                name = page.inner_text("#name")
                if k % 2:
                    page.keyboard.press(str(y[int(name[1:6])]))  # type a reading, then Enter records it
                page.evaluate(WAIT, [name])  # the timer starts in the page, before the key
                page.keyboard.press("Enter")
                lat.append(float(page.evaluate("() => window.__next")))
            browser.close()
        lat.sort()
        print(f"{a.files} files in review; page load {load_ms:.0f} ms; keypress to the next image on screen over "
              f"{a.decisions} decisions: p50 {lat[len(lat) // 2]:.1f} ms, p95 {lat[int(len(lat) * 0.95)]:.1f} ms, "
              f"max {lat[-1]:.1f} ms")
        decided = sum(1 for _ in open(outbox / "corrections.csv")) - 1
        print(f"corrections.csv rows: {decided}; files left in review/: {len(list((outbox / 'review').iterdir()))}")
    finally:
        srv.terminate()
        srv.wait(10)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
