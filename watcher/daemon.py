"""The daemon loop: intake -> claim -> prepare -> classify -> record -> move, one batch at a time.

Who does what: watchdog's observer thread only notes paths; this loop (the main thread) owns
claiming, the CSV and the moves; worker processes (`workers`) read, decode, normalise and
classify each batch in chunks (every model is served as LiteRT: a .keras file is exported when
it is loaded); a reloader thread prepares new models. Signals set a flag; the loop finishes the
batch in flight, then exits.

Exactly once: a file's row is fsynced before the file leaves the work folder, and at start-up
every claimed file is either moved (its row exists) or processed again (it has none).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from loguru import logger
from watchdog.observers.api import BaseObserver

from watcher import model as M
from watcher.claim import Claim, WorkFolder
from watcher.corrections import Desk
from watcher.errors import FolderError
from watcher.events import Intake, make_observer, scan, watch
from watcher.owner import OutboxLock, owner_id
from watcher.pipeline import Prepared, classify, digit_rows, make_row
from watcher.reading import Reading
from watcher.results import DIGIT_HEADER, ResultsFile, Row, claims_recorded, now_iso
from watcher.service import HttpEndpoint, Metrics, Notifier
from watcher.settings import Settings
from watcher.unfinished import Unfinished
from watcher.workers import Abandoned, Model, Pending, WorkerPool

STUCK_AFTER_S = 120.0  # /healthz fails when the loop has not come round for this long
QUIET_S = 0.001  # no new file for this long: a burst's first batch is complete
AHEAD = 1  # batches claimed and queued in the workers beyond the one being collected


@dataclass
class Batch:
    """Claimed files on their way through: read, prepared and classified by the workers."""

    claims: list[Claim]
    clf: M.Classifier  # the model in service when the batch was claimed: it answers for all of it
    pending: Pending | None = None
    prepared: list[Prepared] | None = None
    answers: list[Reading | None] | None = None
    version: str = ""  # the model that gave the answers (a swap may come before they are recorded)
    t0: float = 0.0


@dataclass
class Counts:
    processed: int = 0
    review: int = 0
    failed: int = 0


def ensure_folders(s: Settings) -> tuple[Path, Path]:
    """Absolute inbox and outbox, created if missing; FolderError if unusable."""
    out = []
    for name, p in (("inbox", s.inbox), ("outbox", s.outbox)):
        p = p.expanduser().absolute()
        try:
            p.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FolderError(f"{name} {p} cannot be created: {exc.strerror}") from exc
        if not p.is_dir():
            raise FolderError(f"{name} {p} is not a folder")
        if not os.access(p, os.W_OK | os.X_OK):
            raise FolderError(f"{name} {p} is not writable by this user")
        out.append(p)
    return out[0], out[1]


class Daemon:
    def __init__(self, settings: Settings, classifier: M.Classifier, once: bool = False) -> None:
        self.s = settings
        self.clf = classifier
        self.once = once
        self.inbox, self.outbox = ensure_folders(settings)
        self.lock = OutboxLock(self.outbox)  # before anything is touched: one daemon per outbox
        self.intake = Intake(self.inbox, settings.settle_s)
        self.work = WorkFolder(self.inbox, self.outbox, owner_id(self.outbox), settings.claim_lease_s)
        self.sink = ResultsFile(self.outbox / "results.csv")
        self.digits = ResultsFile(self.outbox / "digits.csv", DIGIT_HEADER)  # written before results.csv
        self.pool = WorkerPool(settings.workers, settings.max_file_bytes, settings.max_pixels, settings.batch_max)
        self.notify = Notifier()
        self.metrics = Metrics()
        self.metrics.set_model(classifier.version)
        self.counts = Counts()
        self.stopping = threading.Event()
        self.finished = threading.Event()
        self.stop_signal = 0
        self.heartbeat = time.monotonic()
        self.observer: BaseObserver | None = None
        self.http: HttpEndpoint | None = None
        self.reloader: M.Reloader | None = None
        self.inflight: deque[Batch] = deque()  # claimed, in the workers, oldest first
        self.redo: list[Claim] = []  # claimed files that still need a row (recovered, or a failed write)
        self.unmoved: list[tuple[Claim, str]] = []  # rows recorded, files still to move
        self.unfinished = Unfinished(settings.settle_s)  # claimed by settling, read truncated: held
        self._recorded: dict[str, str] | None = None  # results.csv's claims, read at start-up if needed
        if self.digits.has_rows():
            self.digits.keep_only(self.recorded_here())  # digits of a batch whose rows a crash cut off

    # ---- lifecycle -----------------------------------------------------------------------------

    def request_stop(self, signum: int, _frame: FrameType | None = None) -> None:
        """Signal handler: only records the signal. Taking a lock here (logging, an Event) could
        deadlock against the interrupted main thread; the guard thread does the rest."""
        self.stop_signal = signum

    def _guard_stop(self) -> None:
        """Turns a recorded signal into an orderly stop, and bounds how long that may take: if
        the batch in flight is not done within shutdown_timeout_s, leave anyway. That is safe:
        its rows are fsynced or not written, and the next start finishes or redoes its files."""
        while not self.finished.is_set():
            if self.stop_signal:
                break
            self.finished.wait(0.05)
        else:
            return
        logger.info("{} received: finishing the batch in flight, then stopping", signal.Signals(self.stop_signal).name)
        self.notify.send("STOPPING=1")
        self.pool.stopping = True
        self.stopping.set()
        self.intake.wake.set()
        if not self.finished.wait(self.s.shutdown_timeout_s):
            logger.warning("batch still in flight after {}s; exiting now, it is recovered at the next start",
                           self.s.shutdown_timeout_s)
            os._exit(0)

    def run(self) -> int:
        logger.info("digit-watcher starting: model {} ({}), inbox {}, outbox {}, watch {}",
                    self.clf.version, self.clf.path, self.inbox, self.outbox, self.s.watch_mode)
        self.recover()
        self.pool.warm(Model.serving(self.clf))
        if not self.once:
            self.start_observer()
            if self.s.metrics:
                self.http = HttpEndpoint(self.s.metrics_host, self.s.metrics_port, self.metrics, self.health)
                self.http.start()
                logger.info("metrics on http://{}:{}/metrics", self.s.metrics_host, self.http.port)
            self.reloader = M.Reloader(self.s.model_path, self.clf, self.s.model_poll_s, self._reload_result,
                                       threads=self.s.threads,
                                       second_below=self.s.second_opinion_below)
            self.reloader.start()
        found = scan(self.inbox, self.intake)
        logger.info("ready: {} file(s) already in the inbox{}", found, "" if self.once else ", watching for more")
        self.notify.send("READY=1\nSTATUS=" + self.status())
        guard = threading.Thread(target=self._guard_stop, name="stop-guard", daemon=True)
        guard.start()
        try:
            self.loop()
        finally:
            self.shutdown()
            self.finished.set()
        return 0

    def shutdown(self) -> None:
        self.notify.send("STOPPING=1")
        if self.observer is not None:
            self.observer.stop()
        if self.reloader is not None:
            self.reloader.stop()
        if self.http is not None:
            self.http.stop()
        self.pool.stopping = True
        self.pool.shutdown()
        self.sink.close()
        self.digits.close()
        self.work.close()
        self.lock.release()
        logger.info("stopped: {}", self.status())

    def start_observer(self) -> None:
        mode = self.s.watch_mode
        obs = make_observer(mode, self.s.poll_interval_s, self.intake)
        watch(obs, self.inbox, self.intake)
        try:
            obs.start()
        except OSError as exc:
            if mode == "polling":
                raise FolderError(f"cannot watch {self.inbox}: {exc}") from exc
            why = ("the inotify watch limit (fs.inotify.max_user_watches) is exhausted"
                   if exc.errno == 28 else "too many inotify instances (fs.inotify.max_user_instances)"
                   if exc.errno == 24 else str(exc))
            logger.error("cannot watch {} with inotify: {}; falling back to polling every {}s",
                         self.inbox, why, self.s.poll_interval_s)
            obs = make_observer("polling", self.s.poll_interval_s)
            watch(obs, self.inbox, self.intake)
            obs.start()
        self.observer = obs

    # ---- start-up recovery ---------------------------------------------------------------------

    def recover(self) -> None:
        """Finish or redo what an earlier run claimed and did not move out; then take over
        what daemons that did not come back left in a shared inbox."""
        left, recorded_elsewhere = self.work.leftovers()
        if left:
            recorded = self.recorded_here() | recorded_elsewhere
            moved = 0
            for c in left:
                status = recorded.get(c.id)
                if status in ("ok", "review", "error"):
                    self.work.finish(c, status)
                    moved += 1
                else:
                    c.settled = True  # nothing in this run said it was complete: it may be held
                    self.redo.append(c)
            logger.warning("recovered {} file(s) from an interrupted run: {} already recorded and now moved, "
                           "{} to process again", len(left), moved, len(self.redo))
        self.take_over(at_start=True)
        if not left:
            self.work.compact()
        if (self.outbox / "corrections.csv").exists():
            moved = Desk(self.outbox).finish_pending()  # a review decision whose move was cut short
            if moved:
                logger.warning("moved {} reviewed file(s) whose decision was recorded before a crash", moved)

    def recorded_here(self) -> dict[str, str]:
        """claim -> status of every row in our results.csv (read once: it can be long)."""
        if self._recorded is None:
            self._recorded = claims_recorded(self.sink.path)
        return self._recorded

    def take_over(self, at_start: bool = False) -> None:
        """Adopt the claims of daemons whose lease ran out (see `claim`): recorded ones move out
        to our result folders (their row is in that daemon's results.csv), the rest are redone."""
        taken = self.work.take_over()
        if not taken and not at_start:
            return
        adopted = self.work.adopted(self.recorded_here)
        if not taken and not adopted.finish and not adopted.redo:
            return
        for c, status in adopted.finish:
            self.work.finish(c, status)
        self.redo += adopted.redo
        logger.warning("took over the claims of {} (lease of {:.0f}s run out): {} recorded there and now moved "
                       "here without a new row, {} to process here", ", ".join(taken) or "an interrupted take-over",
                       self.s.claim_lease_s, len(adopted.finish), len(adopted.redo))

    # ---- the loop ------------------------------------------------------------------------------

    def loop(self) -> None:
        """A pipeline, so that in a burst every core has work: while the workers read, decode
        and classify batch N+1, batch N is collected, recorded and moved out here. A lone file
        goes straight through."""
        next_rescan = time.monotonic() + self.s.rescan_interval_s
        backoff = 0.0
        while not self.stopping.is_set():
            now = time.monotonic()
            self.heartbeat = now
            self.notify.ping(self.status())
            self.metrics.queue.set(len(self.intake))
            self.metrics.held.set(len(self.unfinished))
            self.maybe_swap_model()
            if not self.once and now >= next_rescan:
                self.supervise_observer()
                scan(self.inbox, self.intake)
                self.take_over()
                next_rescan = now + self.s.rescan_interval_s
            if backoff and self.stopping.wait(backoff):
                break
            try:
                nxt, next_check = self.next_batch(wait_to_fill=not self.inflight)
                if nxt is not None:
                    self.inflight.append(nxt)
                if self.unmoved:
                    self.move_out()  # what was recorded last time round, while the workers have the next batch
                if self.inflight and (nxt is None or len(self.inflight) > AHEAD):
                    self.classify(self.inflight.popleft())
                backoff = 0.0
                if self.inflight:
                    continue
                if self.unmoved:
                    self.move_out()  # nothing else to do: move out what was just recorded
                if self.once and len(self.intake) == 0 and not self.redo and not len(self.unfinished):
                    break
                self.work.compact()
                timeout = min(0.5, max(0.0, next_rescan - now))
                if self.notify.ping_every:
                    timeout = min(timeout, self.notify.ping_every)
                if next_check is not None:
                    timeout = min(timeout, max(0.0, next_check - time.monotonic()))
                self.intake.wake.wait(timeout)
            except Abandoned:
                break  # stopping, and the worker pool is gone: what is claimed is redone at the next start
            except OSError as exc:
                # the outbox is unwritable or the disk is full: claim nothing new, keep what we
                # have claimed, try again with backoff
                backoff = min(60.0, max(1.0, backoff * 2))
                logger.critical("cannot record results ({}): {}; nothing is lost, retrying in {:.0f}s",
                                exc.strerror or exc, getattr(exc, "filename", "") or self.outbox, backoff)
        try:
            while self.inflight:
                self.classify(self.inflight.popleft())
            if self.unmoved:
                self.move_out()
        except (OSError, Abandoned) as exc:
            logger.error("could not record the last batch ({}); it is redone at the next start", exc)

    def next_batch(self, wait_to_fill: bool) -> tuple[Batch | None, float | None]:
        """Claim the next batch (files to read again first) and start preparing it. Also when
        to look again if nothing is ready."""
        held_check = None
        if len(self.unfinished):
            again, held_check = self.unfinished.due(time.monotonic())
            self.redo += again
        if self.redo:
            claims, self.redo = self.redo[: self.s.batch_max], self.redo[self.s.batch_max:]
            return self.start(claims), None
        self.intake.wake.clear()
        ready, settled, next_check = self.intake.take_ready(self.s.batch_max)
        if held_check is not None:
            next_check = held_check if next_check is None else min(next_check, held_check)
        if wait_to_fill and ready and len(ready) < self.s.batch_max and self.s.batch_wait_ms > 0:
            # a burst may be arriving: let the batch fill while files keep coming, up to
            # batch_wait_ms; a quiet moment ends the wait (a lone file waits only that long)
            deadline = time.monotonic() + self.s.batch_wait_ms / 1000
            while len(ready) < self.s.batch_max:
                left = deadline - time.monotonic()
                if left <= 0 or not self.intake.wake.wait(min(QUIET_S, left)):
                    break
                self.intake.wake.clear()
                more, more_settled, _ = self.intake.take_ready(self.s.batch_max - len(ready))
                ready += more
                settled |= more_settled
        if not ready:
            return None, next_check
        claims = self.work.claim_many(ready, settled)
        if not claims:
            return None, next_check
        self.work.sync()
        return self.start(claims), next_check

    def start(self, claims: list[Claim]) -> Batch:
        """Read, decode, normalise and classify in the workers; the loop meanwhile records the
        batch before."""
        pending = self.pool.submit([c.path for c in claims], Model.serving(self.clf))
        return Batch(claims, self.clf, pending=pending, t0=time.perf_counter())

    def classify(self, b: Batch) -> None:
        """Collect batch `b` from the workers (the next batch is in their hands already) and
        record it. A file a worker could not classify (it could not build the interpreter) is
        classified here: slower, never wrong."""
        if b.prepared is None:
            assert b.pending is not None
            b.prepared = self.pool.collect(b.pending)
        b.version = b.clf.version
        b.answers = classify(b.prepared, b.clf.predict, b.clf.calibration)
        self.record(b)

    def record(self, b: Batch) -> None:
        """Write a classified batch's rows (fsynced), then move its files out."""
        assert b.prepared is not None and b.answers is not None
        if any(p.unfinished for p in b.prepared):
            self.hold_unfinished(b)
            if not b.claims:
                return
        if self.unfinished.watching:
            for c in b.claims:
                self.unfinished.forget(c.id)
        prepared = b.prepared
        when = now_iso()
        one_digit = self.s.read == "digit"
        rows = [make_row(c.rel, c.id, p, a, self.s.review_threshold, b.version, when, one_digit)
                for c, p, a in zip(b.claims, prepared, b.answers, strict=True)]
        per_digit = [d for c, a in zip(b.claims, b.answers, strict=True) for d in digit_rows(c.id, c.rel, a)]
        if not self.work.still_ours():
            raise FolderError(f"the work folder {self.work.dir} was taken over by another daemon while this one was "
                              f"held up for longer than claim_lease_s ({self.s.claim_lease_s:.0f}s); it records nothing "
                              "more for those files and stops: start it again")
        try:
            self.digits.append(per_digit)  # first: a crash before the rows leaves digits no row joins
            self.sink.append(rows)
        except OSError:
            self.redo = b.claims + self.redo  # nothing recorded: redo the whole batch later
            raise
        self.work.mark_recorded(b.claims, [r.status for r in rows])
        dt = time.perf_counter() - b.t0
        self.account(rows, prepared, dt)
        # the rows are durable: the files may leave the work folder. They do when the loop comes
        # round, after it has handed the workers their next batch, so rows are never held back
        # behind moves and the workers never wait for them.
        self.unmoved += zip(b.claims, (r.status for r in rows), strict=True)

    def hold_unfinished(self, b: Batch) -> None:
        """Take out of batch `b` the files claimed by settling that read as unfinished (empty,
        truncated) while their writer may still be at them: they wait, unrecorded (`unfinished`)."""
        assert b.prepared is not None and b.answers is not None
        now = time.monotonic()
        keep = []
        for i, (c, p) in enumerate(zip(b.claims, b.prepared, strict=True)):
            if p.unfinished and self.unfinished.hold(c, now):
                logger.info("{}: {} after {:g}s still; held until its writer is done (read again once it changes, "
                            "failed after {:g}s unchanged)", c.rel, p.error, self.s.settle_s, self.unfinished.grace)
            else:
                keep.append(i)
        b.claims = [b.claims[i] for i in keep]
        b.prepared = [b.prepared[i] for i in keep]
        b.answers = [b.answers[i] for i in keep]

    def move_out(self) -> None:
        todo, self.unmoved = self.unmoved, []
        for i, (c, status) in enumerate(todo):
            try:
                self.work.finish(c, status)
            except OSError:
                self.unmoved = todo[i:]
                raise

    def account(self, rows: list[Row], prepared: list[Prepared], dt: float) -> None:
        """Counts, metrics and log lines for one recorded batch. Failures are logged one by one;
        read files one line per batch at INFO (the CSV is the record), one per file at DEBUG."""
        statuses = Counter(r.status for r in rows)
        digits = Counter(r.digit for r in rows if r.status != "error" and r.digit)
        self.counts.processed += statuses["ok"]
        self.counts.review += statuses["review"]
        self.counts.failed += statuses["error"]
        for status, n in statuses.items():
            self.metrics.files.labels(status).inc(n)
        for digit, n in digits.items():
            self.metrics.digits.labels(digit).inc(n)
        self.metrics.batch_size.observe(len(rows))
        self.metrics.batch_seconds.observe(dt)
        per_file = dt * 1000 / len(rows)
        for p, r in zip(prepared, rows, strict=True):
            if r.status == "error":
                logger.warning("{}: error: {} ({:.1f} ms)", r.file, r.error, p.seconds * 1000 + per_file)
        if len(rows) == 1 and rows[0].status != "error":
            r = rows[0]
            logger.info("{} -> {} ({}){}, {:.1f} ms", r.file, r.text, r.confidence,
                        f" {r.error}" if r.status == "review" else "", prepared[0].seconds * 1000 + per_file)
        elif len(rows) > 1:
            logger.info("batch of {} in {:.0f} ms: {} ok, {} review, {} failed", len(rows), dt * 1000,
                        statuses["ok"], statuses["review"], statuses["error"])
            for r in rows:
                if r.status != "error":
                    logger.debug("{} -> {} ({}){}", r.file, r.text, r.confidence, f" {r.error}" if r.status == "review" else "")

    # ---- health, model swaps -------------------------------------------------------------------

    def status(self) -> str:
        c = self.counts
        return f"processed={c.processed} review={c.review} failed={c.failed} queued={len(self.intake)}"

    def health(self) -> str | None:
        if time.monotonic() - self.heartbeat > STUCK_AFTER_S:
            return f"processing loop stuck for {time.monotonic() - self.heartbeat:.0f}s"
        if self.observer is not None and not self.observer.is_alive():
            return "folder watcher stopped"
        return None

    def supervise_observer(self) -> None:
        """A polling emitter dies for good on one OSError (a mount hiccup): restart it."""
        if self.observer is not None and not self.observer.is_alive():
            logger.error("the folder watcher stopped; restarting it")
            self.start_observer()
            return
        if self.observer is not None:
            for em in list(self.observer.emitters):
                if not em.is_alive():
                    logger.error("the folder watcher's emitter stopped; restarting the watcher")
                    self.observer.stop()
                    self.start_observer()
                    return

    def maybe_swap_model(self) -> None:
        if self.reloader is None:
            return
        new = self.reloader.take()
        if new is not None:
            old, self.clf = self.clf, new
            self.metrics.set_model(new.version)
            logger.info("model swapped: {} -> {}", old.version, new.version)

    def _reload_result(self, ok: bool, what: str) -> None:
        self.metrics.reloads.labels("ok" if ok else "rejected").inc()


def install_signal_handlers(d: Daemon) -> None:
    signal.signal(signal.SIGTERM, d.request_stop)
    signal.signal(signal.SIGINT, d.request_stop)
