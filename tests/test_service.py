"""Behaving like a service: the systemd unit, sd_notify on a real socket, config validation,
metrics and health over HTTP, hot model reload."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import EXE, REPO, DaemonProc, free_port, http_get, metric, rows, wait_rows, write_digits

UNIT = REPO / "config" / "digit-watcher.service"


def test_unit_file_verifies_and_is_hardened() -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed (.ci/run installs it)")
    r = subprocess.run(["systemd-analyze", "verify", str(UNIT)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    text = UNIT.read_text()
    for line in ("Type=notify", "Restart=on-failure", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes",
                 "PrivateTmp=yes", "PrivateDevices=yes", "SystemCallFilter=@system-service", "WatchdogSec="):
        assert line in text
    assert re.search(r"^ReadWritePaths=.*inbox.*outbox", text, re.M)
    assert re.search(r"^RestrictAddressFamilies=", text, re.M) and re.search(r"^UMask=", text, re.M)
    assert re.search(r"^User=(?!root)", text, re.M)


def listening_socket(path: Path) -> socket.socket:
    """A datagram socket where systemd's NOTIFY_SOCKET would be."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(path))
    s.settimeout(0.5)
    return s


def test_notify_socket_gets_ready_watchdog_status_and_stopping(tmp_path: Path, daemon_factory: type[DaemonProc],
                                                               mnist: dict[str, np.ndarray]) -> None:
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    s = listening_socket(tmp_path / "notify.sock")
    d = daemon_factory(inbox, outbox, env={"NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "1000000"})
    got: list[str] = []
    end = time.time() + 60
    while time.time() < end and not ("READY=1" in "".join(got) and "".join(got).count("WATCHDOG=1") >= 2):
        try:
            got.append(s.recv(4096).decode())
        except TimeoutError:
            pass
    write_digits(inbox, mnist["x_test"][:2])
    wait_rows(outbox, 2, 20)
    time.sleep(1.2)
    assert d.stop() == 0
    while True:
        try:
            got.append(s.recv(4096).decode())
        except TimeoutError:
            break
    msgs = "\n".join(got)
    assert "READY=1" in msgs and msgs.count("WATCHDOG=1") >= 2 and "STOPPING=1" in msgs
    assert re.search(r"STATUS=processed=\d+ review=\d+ failed=0 queued=\d+", msgs)
    assert any("processed=2" in m or ("processed=1" in m and "review=1" in m) or "review=2" in m for m in got)


@pytest.mark.parametrize(("setting", "value", "message"), [
    ("batch_max", "0", "batch_max"),
    ("watch_mode", "inotifyy", "watch_mode"),
    ("review_threshold", "1.5", "review_threshold"),
    ("settle_s", "soon", "settle_s"),
])
def test_bad_setting_in_env_names_setting_value_and_exits_2(tmp_path: Path, setting: str, value: str, message: str) -> None:
    env = dict(os.environ, **{f"DIGIT_WATCHER_{setting.upper()}": value})
    r = subprocess.run([*EXE, "run", "--inbox", str(tmp_path / "i"), "--outbox", str(tmp_path / "o")],
                       capture_output=True, text=True, env=env, timeout=60, cwd=REPO)
    assert r.returncode == 2
    assert message in r.stderr and repr(value) in r.stderr
    assert not (tmp_path / "o").exists()  # nothing half-started


def test_bad_config_file_and_unknown_key(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('inbox = "in"\noutbox = "out"\nbatch_mx = 5\n')
    r = subprocess.run([*EXE, "check-config", "--config", str(cfg)], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2 and "batch_mx" in r.stderr and "unknown setting" in r.stderr
    cfg.write_text("inbox = [unclosed\n")
    r = subprocess.run([*EXE, "check-config", "--config", str(cfg)], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2 and "not valid TOML" in r.stderr
    r = subprocess.run([*EXE, "check-config", "--config", str(tmp_path / "nope.toml")], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2 and "not found" in r.stderr
    cfg.write_text('inbox = "x"\noutbox = "x/out"\n')
    r = subprocess.run([*EXE, "check-config", "--config", str(cfg)], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2 and "must not contain each other" in r.stderr


def test_check_config_prints_effective_values_with_precedence(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('inbox = "in"\noutbox = "out"\nbatch_max = 64\nreview_threshold = 0.5\n')
    env = dict(os.environ, DIGIT_WATCHER_REVIEW_THRESHOLD="0.7")
    r = subprocess.run([*EXE, "check-config", "--config", str(cfg), "--outbox", str(tmp_path / "cli-out")],
                       capture_output=True, text=True, env=env, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert f'inbox = "{tmp_path / "in"}"' in r.stdout  # relative to the config file
    assert f'outbox = "{tmp_path / "cli-out"}"' in r.stdout  # flag beats file
    assert "batch_max = 64" in r.stdout and "review_threshold = 0.7" in r.stdout  # env beats file


def test_missing_model_is_a_clear_startup_error(tmp_path: Path) -> None:
    r = subprocess.run([*EXE, "run", "--inbox", str(tmp_path / "i"), "--outbox", str(tmp_path / "o"),
                        "--model", str(tmp_path / "none.keras")], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert r.returncode == 3 and "model file not found" in r.stderr and "none.keras" in r.stderr


def test_metrics_move_when_files_are_processed(tmp_path: Path, daemon_factory: type[DaemonProc],
                                               mnist: dict[str, np.ndarray]) -> None:
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    port = free_port()
    d = daemon_factory(inbox, outbox, "--metrics", env={"DIGIT_WATCHER_METRICS_PORT": str(port)})
    d.wait_ready()
    base = f"http://127.0.0.1:{port}"
    assert http_get(base + "/healthz") == (200, "ok\n")
    code, before = http_get(base + "/metrics")
    assert code == 200 and "digit_watcher_model_info{version=" in before
    write_digits(tmp_path / "src", mnist["x_test"][:6])
    for f in sorted((tmp_path / "src").iterdir()):
        os.rename(f, inbox / f.name)
    (inbox / "bad.png").write_bytes(b"nope")
    wait_rows(outbox, 7, 30)
    _, after = http_get(base + "/metrics")
    done = metric(after, 'digit_watcher_files_total{status="ok"}') + metric(after, 'digit_watcher_files_total{status="review"}')
    assert done == 6
    assert metric(after, 'digit_watcher_files_total{status="error"}') == 1
    assert sum(metric(after, f'digit_watcher_digits_total{{digit="{k}"}}') for k in range(10)) == 6
    assert metric(after, "digit_watcher_batch_size_count") >= 1
    assert http_get(base + "/nope")[0] == 404
    assert d.stop() == 0


def test_hot_reload_swaps_a_good_model_and_rejects_a_corrupt_one(tmp_path: Path, daemon_factory: type[DaemonProc],
                                                                 mnist: dict[str, np.ndarray]) -> None:
    from watcher.export import export
    from watcher.model import SHIPPED_KERAS, file_version

    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(SHIPPED_KERAS, models / "digits.keras")  # exported to LiteRT when loaded
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    d = daemon_factory(inbox, outbox, "--model", str(models / "digits.keras"), env={"DIGIT_WATCHER_MODEL_POLL_S": "0.3"})
    d.wait_ready()

    def drop(k: int) -> str:
        write_digits(tmp_path / f"s{k}", mnist["x_test"][k:k + 1], prefix=f"r{k}-")
        os.rename(tmp_path / f"s{k}" / f"r{k}-00000.png", inbox / f"r{k}.png")
        return wait_rows(outbox, k + 1, 30)[-1]["model_version"]

    v1 = drop(0)
    assert v1 == file_version(models / "digits.keras")
    # a corrupt model in a new version folder is rejected; the old one keeps serving
    (models / "2").mkdir()
    (models / "2" / "digits.keras").write_bytes(b"PK\x03\x04 this is not a model")
    end = time.time() + 90  # a .keras file is exported in a child process before it is checked
    while "new model rejected" not in d.output() and time.time() < end:
        time.sleep(0.2)
    assert "new model rejected" in d.output()
    assert drop(1) == v1
    # a good one (exported for LiteRT: another version) is verified and swapped in
    staging = tmp_path / "staging"
    export(SHIPPED_KERAS, staging / "digits.tflite")
    os.rename(staging, models / "3")  # written elsewhere, moved in whole
    v3 = file_version(models / "3" / "digits.tflite")
    end = time.time() + 30
    while "model swapped" not in d.output() and time.time() < end:
        time.sleep(0.2)
    assert drop(2) == v3 != v1
    assert [r["model_version"] for r in rows(outbox)] == [v1, v1, v3]
    assert d.stop() == 0


def test_a_notify_socket_nobody_reads_never_stalls_processing(tmp_path: Path, daemon_factory: type[DaemonProc],
                                                              mnist: dict[str, np.ndarray]) -> None:
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    s = listening_socket(tmp_path / "deaf.sock")  # bound, never read: its queue fills after a few messages
    d = daemon_factory(inbox, outbox, env={"NOTIFY_SOCKET": str(tmp_path / "deaf.sock"), "WATCHDOG_USEC": "100000"})
    d.wait_ready()
    time.sleep(3)  # dozens of pings: far more than the socket queue holds
    write_digits(inbox, mnist["x_test"][:3])
    assert len(wait_rows(outbox, 3, 20)) == 3
    assert d.stop() == 0
    s.close()
