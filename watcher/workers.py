"""The decode pool: worker processes that read, decode and normalise claimed files.

Why processes, not threads: `normalise` is many small NumPy and OpenCV calls that hold the GIL
(about 70 us a 28x28 digit), so decode threads queued behind each other and behind the loop
(measured: threads 3,000 files/s in a burst, the GIL busy all the time). In processes they run
beside the loop, and a decoder that crashes on a poison file takes down a worker, not the
daemon: the pool is rebuilt, the files of the broken chunk are retried one by one, and the one
that crashes again gets an error row (`DecoderCrashed`) instead of crash-looping the service.

Workers ignore SIGINT and SIGTERM: the daemon decides when they stop (after the batch in
flight), so a Ctrl-C or systemd's stop signal to the whole group cannot break a batch.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import select
import signal
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from loguru import logger

from watcher import decode
from watcher.errors import DecoderCrashed, FileFailure
from watcher.pipeline import Prepared, prepare_all


def _init_worker(daemon_pid: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    import cv2

    cv2.setNumThreads(1)  # one worker per core already; OpenCV's own threads would oversubscribe
    threading.Thread(target=_end_with, args=(daemon_pid,), name="end-with-daemon", daemon=True).start()


def _end_with(pid: int) -> None:
    """End this worker when the daemon ends, however it ends. A worker's parent is the
    forkserver, and it holds its own end of the task queue, so after a kill -9 of the daemon
    nothing else would ever end it (measured: orphans stayed)."""
    try:
        fd = os.pidfd_open(pid)  # readable once that process has exited
    except ProcessLookupError:
        os._exit(0)
    except (AttributeError, OSError):  # no pidfd (kernel < 5.3): look once a second
        while True:
            time.sleep(1.0)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:
                pass
    select.select([fd], [], [])
    os._exit(0)


def _ready() -> int:
    return os.getpid()


class Abandoned(Exception):
    """The pool broke while the daemon is stopping: the batch is left claimed, to be redone."""


@dataclass
class Pending:
    """A batch's files being prepared: chunks of paths and their futures."""

    chunks: list[list[str]]
    futures: list[Future[list[Prepared]]] = field(default_factory=list)
    generation: int = 0  # of the pool they went to


class DecodePool:
    def __init__(self, workers: int, max_bytes: int, max_pixels: int) -> None:
        self.workers = workers
        self.max_bytes, self.max_pixels = max_bytes, max_pixels
        self.stopping = False
        self.generation = 0  # counts rebuilds
        self._pool = self._new()

    def _new(self) -> ProcessPoolExecutor:
        # forkserver: workers fork from a clean process that has imported the decoders once,
        # never from this threaded one (fork after threads can deadlock)
        # each worker is one thread by design: OpenBLAS's idle threads otherwise spin beside it
        # (measured: 125 us of CPU a file instead of 102). Read when the forkserver starts.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["watcher.pipeline"])
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx, initializer=_init_worker,
                                   initargs=(os.getpid(),))

    def warm(self) -> None:
        """Start every worker now, so the first burst does not wait for them."""
        for f in [self._pool.submit(_ready) for _ in range(self.workers)]:
            f.result()

    def submit(self, paths: Sequence[str]) -> Pending:
        """Hand a batch to the workers in a few chunks (two per worker: one can start while the
        other's result travels back)."""
        step = max(8, -(-len(paths) // (2 * self.workers)))
        chunks = [list(paths[i:i + step]) for i in range(0, len(paths), step)]
        pending = Pending(chunks, generation=self.generation)
        try:
            pending.futures = [self._pool.submit(prepare_all, c, self.max_bytes, self.max_pixels) for c in chunks]
        except BrokenProcessPool:
            pending.futures = []  # collect() finds no futures and isolates every chunk
        return pending

    def collect(self, pending: Pending) -> list[Prepared]:
        """The prepared files, in order. A chunk whose worker died is retried file by file."""
        out: list[Prepared] = []
        for k, chunk in enumerate(pending.chunks):
            try:
                if k >= len(pending.futures):
                    raise BrokenProcessPool("not submitted")
                out += pending.futures[k].result()
            except BrokenProcessPool:
                if pending.generation != self.generation:
                    out += self._again(chunk)  # its pool broke over another chunk, already rebuilt
                else:
                    out += self._isolate(chunk)
        return out

    def _again(self, chunk: list[str]) -> list[Prepared]:
        try:
            return self._pool.submit(prepare_all, chunk, self.max_bytes, self.max_pixels).result()
        except BrokenProcessPool:
            return self._isolate(chunk)

    def _isolate(self, chunk: list[str]) -> list[Prepared]:
        if self.stopping:
            raise Abandoned("decode worker ended while stopping")
        logger.error("a decode worker died; retrying its {} file(s) one at a time", len(chunk))
        self._rebuild()
        out = []
        for path in chunk:
            try:
                out += self._pool.submit(prepare_all, [path], self.max_bytes, self.max_pixels).result()
            except BrokenProcessPool:
                if self.stopping:
                    raise Abandoned("decode worker ended while stopping") from None
                logger.error("{}: the decoder crashed on this file", path)
                out.append(Prepared(_sha(path, self.max_bytes), None, str(DecoderCrashed()), 0.0))
                self._rebuild()
        return out

    def _rebuild(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new()
        self.generation += 1

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _sha(path: str, max_bytes: int) -> str:
    try:
        return hashlib.sha256(decode.read_bytes(path, max_bytes)).hexdigest()
    except (FileFailure, OSError):
        return ""
