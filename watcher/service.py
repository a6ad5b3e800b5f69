"""Talking to the service manager and to monitoring: systemd notify and Prometheus metrics.

systemd: through the `sdnotify` library. READY=1 once watching, WATCHDOG=1 from the processing
loop itself (a spare thread would hide a hung model call) at half of WATCHDOG_USEC, STATUS=
with counts, STOPPING=1 on shutdown. Without NOTIFY_SOCKET every call is a no-op.

Metrics: prometheus-client collectors in a registry of our own, served with /healthz on a
small loopback HTTP server when `metrics = true`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import sdnotify
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Notifier:
    def __init__(self) -> None:
        self.enabled = bool(os.environ.get("NOTIFY_SOCKET"))
        self._n = sdnotify.SystemdNotifier() if self.enabled else None
        if self._n is not None and self._n.socket is not None:
            # never block the processing loop on a manager that is not reading: a message that
            # does not fit is dropped (the next ping carries the same news)
            self._n.socket.setblocking(False)
        usec = os.environ.get("WATCHDOG_USEC", "")
        self.watchdog_s = int(usec) / 1e6 if usec.isdigit() and int(usec) > 0 else None
        self._last_ping = 0.0

    def send(self, msg: str) -> None:
        if self._n is not None:
            self._n.notify(msg)

    @property
    def ping_every(self) -> float | None:
        return self.watchdog_s / 2 if self.watchdog_s else None

    def ping(self, status: str) -> None:
        """Called every loop iteration; sends WATCHDOG=1 and STATUS= at most every half period."""
        if self._n is None:
            return
        now = time.monotonic()
        every = self.ping_every or 5.0
        if now - self._last_ping >= every:
            self._last_ping = now
            self.send(("WATCHDOG=1\n" if self.watchdog_s else "") + f"STATUS={status}")


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.files = Counter("digit_watcher_files", "Files finished, by status", ["status"], registry=r)
        self.digits = Counter("digit_watcher_digits", "Digits read (ok and review rows)", ["digit"], registry=r)
        self.batch_size = Histogram("digit_watcher_batch_size", "Files per batch",
                                    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096), registry=r)
        self.batch_seconds = Histogram("digit_watcher_batch_seconds", "Seconds from claim to rows recorded",
                                       buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=r)
        self.queue = Gauge("digit_watcher_queue_depth", "Files seen in the inbox and not yet claimed", registry=r)
        self.held = Gauge("digit_watcher_held_files", "Files claimed after settling that read truncated: waiting, "
                          "unrecorded, for their writer", registry=r)
        self.model = Gauge("digit_watcher_model_info", "The model serving now", ["version"], registry=r)
        self.reloads = Counter("digit_watcher_model_reloads", "Model reload attempts, by result", ["result"], registry=r)
        for s in ("ok", "review", "error"):
            self.files.labels(s)
        for d in range(10):
            self.digits.labels(str(d))

    def set_model(self, version: str) -> None:
        self.model.clear()
        self.model.labels(version).set(1)


class HttpEndpoint:
    """/metrics (Prometheus text format) and /healthz (200 or 503 with the reason)."""

    def __init__(self, host: str, port: int, metrics: Metrics, health: Callable[[], str | None]) -> None:
        registry = metrics.registry

        class H(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/metrics":
                    body, code, ctype = generate_latest(registry), 200, CONTENT_TYPE_LATEST
                elif self.path == "/healthz":
                    problem = health()
                    body = (problem or "ok").encode() + b"\n"
                    code, ctype = (503 if problem else 200), "text/plain; charset=utf-8"
                else:
                    body, code, ctype = b"not found\n", 404, "text/plain; charset=utf-8"
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer((host, port), H)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="http", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
