"""The worker pool: processes that read, decode, normalise and classify claimed files.

Why processes, not threads: `normalise` is many small NumPy and OpenCV calls that hold the GIL
(about 40 us a 28x28 digit), so decode threads queued behind each other and behind the loop
(measured: threads 3,000 files/s in a burst, the GIL busy all the time). In processes they run
beside the loop, and a decoder that crashes on a poison file takes down a worker, not the
daemon: the worker is replaced, the files it had not answered are retried one at a time, and
the one that crashes it again gets an error row (`DecoderCrashed`) instead of crash-looping the
service.

Each worker also classifies its share of a batch, with its own single-threaded LiteRT
interpreter: one thread per core is the cheapest way to run the network (48 us an image on one
thread for both networks, 57 us of CPU on two threads, measured), and only answers cross the
pipe, not 28x28 float maps.
The daemon sends each worker the model bytes once per model version, ahead of the first files it
is to classify with them, so a model swap never mixes versions within a batch. (Every model is
LiteRT by then: `model.load` exports a .keras file. A worker that cannot build the interpreter
sends the files back normalised, and the daemon classifies them.)

Each worker has its own pipe, not a shared queue: a worker that dies halfway through sending
its answer then shows as end-of-file on its pipe. (With concurrent.futures' ProcessPoolExecutor
the answer pipe is shared, so the half-sent answer left the daemon waiting for the rest
forever: found by killing workers mid-burst.) Its pipe is also how a worker ends with the
daemon, kill -9 included: the daemon's end closes, the worker reads end-of-file and exits.
Workers ignore SIGINT and SIGTERM: the daemon decides when they stop (after the batch in flight),
so a Ctrl-C or systemd's stop signal to the whole group cannot break a batch.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
from loguru import logger

from watcher import decode
from watcher.errors import DecoderCrashed, FileFailure
from watcher.model import SERVE_BATCH, Classifier
from watcher.pipeline import Prepared, prepare_all, read_all
from watcher.reading import UNCALIBRATED, Calibration


@dataclass
class Model:
    """A served model, as workers get it: its version, the bytes of its LiteRT file, and how it
    is run (`model.LiteEngine`)."""

    version: str
    content: bytes
    second_below: float
    calibration: Calibration = field(default_factory=Calibration)  # the model's (`model.calibration`)

    @classmethod
    def serving(cls, clf: Classifier) -> Model | None:
        """What workers need to classify as `clf` does; None when it is not a LiteRT model."""
        return cls(clf.version, clf.content, clf.second_below, clf.calibration) if clf.content is not None else None


@dataclass
class Job:
    """Files for one worker, and the model version to classify them with (None: do not)."""

    paths: list[str]
    version: str | None


def _serve(conn: Connection, max_bytes: int, max_pixels: int, max_batch: int) -> None:
    """A worker: answer each Job with its prepared files, in order, until the daemon's end of
    the pipe closes. A Model message replaces the model it classifies with."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    import cv2

    cv2.setNumThreads(1)  # one worker per core already; OpenCV's own threads would oversubscribe
    engine: Callable[[np.ndarray], np.ndarray] | None = None
    version: str | None = None
    calibration = UNCALIBRATED
    while True:
        try:
            msg = conn.recv()
            if isinstance(msg, Model):
                engine, version, calibration = _engine(msg, max_batch), msg.version, msg.calibration
                continue
            if msg.version is not None and msg.version == version and engine is not None:
                prepared = read_all(msg.paths, max_bytes, max_pixels, engine, calibration)
            else:
                prepared = prepare_all(msg.paths, max_bytes, max_pixels)
            conn.send(prepared)  # anything left unclassified is classified by the daemon
        except (EOFError, OSError):
            return


def _engine(model: Model, max_batch: int) -> Callable[[np.ndarray], np.ndarray] | None:
    """A one-thread interpreter for this worker (warm once built); None if it cannot be built
    here (the daemon then classifies this worker's files: slower, never wrong)."""
    from watcher.model import LiteEngine

    try:
        engine = LiteEngine(model.content, threads=1, max_batch=max_batch, second_below=model.second_below)
    except Exception:
        return None
    return lambda x: engine(x.reshape(-1, 28, 28, 1))


class Abandoned(Exception):
    """A worker died while the daemon is stopping: the batch is left claimed, to be redone."""


@dataclass
class Chunk:
    """Some of a batch's paths, sent to one worker; its answer, or lost with the worker."""

    paths: list[str]
    worker: int
    model: Model | None
    result: list[Prepared] | None = None
    lost: bool = False


@dataclass
class Worker:
    proc: Any  # multiprocessing's Process of the forkserver context
    conn: Connection
    outstanding: deque[Chunk] = field(default_factory=deque)  # sent, not answered yet, in order
    model: str | None = None  # the model version it was last sent


@dataclass
class Pending:
    """A batch's files being prepared (and classified, when its chunks carry a model)."""

    chunks: list[Chunk]


class WorkerPool:
    def __init__(self, workers: int, max_bytes: int, max_pixels: int, batch_max: int) -> None:
        self.max_bytes, self.max_pixels = max_bytes, max_pixels
        self.n = workers
        # the interpreter's top bucket: the largest share of a batch one worker gets (see
        # submit), at most SERVE_BATCH (a bigger share runs in slices of it)
        self.max_chunk = min(self._step(batch_max), SERVE_BATCH)
        self.stopping = False
        # each worker is one thread by design: OpenBLAS's idle threads otherwise spin beside it
        # (measured: 125 us of CPU a file instead of 102). Read when the forkserver starts.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        # forkserver: workers fork from a clean process that has imported the decoders once,
        # never from this threaded one (fork after threads can deadlock)
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(["watcher.pipeline"])
        self._workers = [self._start() for _ in range(workers)]
        self._turn = 0

    def _start(self) -> Worker:
        mine, theirs = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(target=_serve, args=(theirs, self.max_bytes, self.max_pixels, self.max_chunk),
                                 name="digit-watcher-decode", daemon=True)
        proc.start()
        theirs.close()  # the worker holds the only other end: its death is end-of-file here
        return Worker(proc, mine)

    def warm(self, model: Model | None) -> None:
        """Wait until every worker answers (with the model loaded), so the first burst does not
        wait for them."""
        for k in range(len(self._workers)):
            self._await(self._send(k, [], model))

    def _step(self, n: int) -> int:
        return max(8, -(-n // (2 * self.n)))

    def submit(self, paths: Sequence[str], model: Model | None) -> Pending:
        """Hand a batch to the workers in a few chunks (two per worker: one can start while the
        other's answer travels back); with `model`, the workers classify them too."""
        step = self._step(len(paths))
        chunks = []
        for i in range(0, len(paths), step):
            chunks.append(self._send(self._turn % self.n, list(paths[i:i + step]), model))
            self._turn += 1
        return Pending(chunks)

    def collect(self, pending: Pending) -> list[Prepared]:
        """The prepared files, in order. A chunk whose worker died is retried file by file."""
        out: list[Prepared] = []
        for chunk in pending.chunks:
            self._await(chunk)
            out += chunk.result if chunk.result is not None else self._isolate(chunk.paths, chunk.model)
        return out

    def _send(self, k: int, paths: list[str], model: Model | None) -> Chunk:
        chunk = Chunk(paths, k, model)
        w = self._workers[k]
        try:
            if model is not None and w.model != model.version:
                w.conn.send(model)
                w.model = model.version
            w.conn.send(Job(paths, model.version if model else None))
            w.outstanding.append(chunk)
        except OSError:
            chunk.lost = True
            self._died(k)
        return chunk

    def _await(self, chunk: Chunk) -> None:
        """Read worker answers until `chunk` has its own (they come back in the order sent), or
        until the worker turns out dead: then every chunk it had not answered is lost."""
        w = self._workers[chunk.worker]
        while chunk.result is None and not chunk.lost:
            try:
                answer = w.conn.recv()
            except (EOFError, OSError):
                self._died(chunk.worker)
                return
            w.outstanding.popleft().result = answer

    def _died(self, k: int) -> None:
        w = self._workers[k]
        for c in w.outstanding:
            c.lost = True
        w.outstanding.clear()
        w.conn.close()
        w.proc.join(1.0)
        logger.error("worker {} died ({}); starting another", w.proc.pid, _how(w.proc.exitcode))
        self._workers[k] = self._start()

    def _isolate(self, paths: list[str], model: Model | None) -> list[Prepared]:
        if self.stopping:
            raise Abandoned("a worker ended while stopping")
        logger.error("a worker died; retrying its {} file(s) one at a time", len(paths))
        out = []
        for path in paths:
            # twice: worker 0 may itself have been one of the workers that died (several can end
            # at once), and only a file that kills a worker that was alive is to blame
            for _attempt in range(2):
                chunk = self._send(0, [path], model)
                self._await(chunk)
                if chunk.result is not None or self.stopping:
                    break
            if chunk.result is not None:
                out += chunk.result
                continue
            if self.stopping:
                raise Abandoned("a worker ended while stopping")
            logger.error("{}: the decoder crashed on this file", path)
            out.append(Prepared(_sha(path, self.max_bytes), None, str(DecoderCrashed()), 0.0))
        return out

    def shutdown(self) -> None:
        """Close every pipe (a worker then finishes what it was doing and exits); a worker that
        has not gone within a few seconds is killed."""
        for w in self._workers:
            w.conn.close()
        for w in self._workers:
            w.proc.join(5.0)
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join(1.0)


def _how(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"signal {signal.Signals(-exitcode).name}"
    return f"exit code {exitcode}"


def _sha(path: str, max_bytes: int) -> str:
    try:
        return hashlib.sha256(decode.read_bytes(path, max_bytes)).hexdigest()
    except (FileFailure, OSError):
        return ""
