"""`digit-watcher batch`: read an archive where it lies, on this machine or on a Ray cluster.

Nothing in the sources is moved or changed. The rows are the daemon's (same columns, same
reading code, same model file, same thresholds), written to `OUT/results.csv` by this process
alone, a batch at a time, each write fsynced: so a kill leaves whole rows (a torn last one is cut
at the next start, as the daemon's sink does).

Resumable: a file's `claim` is a hash of its absolute path, so a rerun of the same command
skips every claim already in `OUT/results.csv` and reads the rest; and because this process is
the only writer and drops any claim it has written already (a retried Ray task may answer twice),
each file ends with exactly one row. Two runs on one OUT are refused (the outbox lock).

Where the work runs is a `Reader`, one path: files are listed (and resumption filtered) here,
read in chunks, and answered as (claim, Prepared) pairs in any order:
- `local_reader`: the daemon's worker pool (one process per core, each with its own one-thread
  LiteRT interpreter).
- `ray_reader`: Ray Data, `map_batches` over an actor pool in which each actor holds one LiteRT
  engine; the files are read by path on whichever node the actor runs, so every node must see
  the sources at the same path (a shared mount). Actors lost with a node are restarted and their
  batches retried by Ray Data.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from watcher import reading
from watcher.errors import ConfigError, DataError
from watcher.events import ignored
from watcher.model import Classifier
from watcher.owner import OutboxLock
from watcher.pipeline import Prepared, classify_in_place, digit_rows, make_row
from watcher.reading import UNCALIBRATED, Calibration
from watcher.results import DIGIT_HEADER, ResultsFile, claims_recorded, now_iso
from watcher.settings import Settings


@dataclass(frozen=True)
class Item:
    path: str  # where to read it
    rel: str  # the `file` column: relative to the SRC folder it was found under
    claim: str  # stable across runs: the resumption key


@dataclass
class Summary:
    found: int
    skipped: int  # recorded by an earlier run
    counts: Counter[str]
    seconds: float
    nodes: Counter[str]  # files read on each Ray node (empty for a local run)

    def line(self, out: Path) -> str:
        done = sum(self.counts.values())
        rate = done / self.seconds if self.seconds > 0 else 0.0
        where = f" on {len(self.nodes)} Ray node(s)" if self.nodes else ""
        return (f"batch: {self.found} file(s) found, {self.skipped} already recorded, {done} read{where} in "
                f"{self.seconds:.1f}s ({rate:.0f} files/s): {self.counts['ok']} ok, {self.counts['review']} review, "
                f"{self.counts['error']} failed -> {out / 'results.csv'}")


@dataclass
class Answer:
    claim: str
    prepared: Prepared  # with its answer
    node: str = ""  # the Ray node that read it


Reader = Callable[[Sequence[Item]], Iterator[list[Answer]]]
RAY_ATTEMPTS = 4  # datasets started for one run before a Ray failure is the run's


def claim_of(path: str) -> str:
    """The same file (by absolute path) gets the same claim in every run."""
    return "b-" + hashlib.blake2b(os.fsencode(os.path.abspath(path)), digest_size=10).hexdigest()


def list_sources(sources: Iterable[Path]) -> Iterator[Item]:
    """Every file under each folder (recursively, sorted, hidden and partial names left out as
    the daemon leaves them), and each file named directly. Symlinks are not followed."""
    for src in sources:
        if src.is_dir() and not src.is_symlink():
            for root, dirs, files in os.walk(src):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    full = os.path.join(root, name)
                    rel = os.path.relpath(full, src)
                    if not ignored(rel):
                        yield Item(full, rel, claim_of(full))
        elif src.exists() or src.is_symlink():
            yield Item(str(src), str(src), claim_of(str(src)))
        else:
            raise DataError(f"batch source not found: {src}")


def read_list(path: Path) -> list[Path]:
    """A file of paths, one a line ('-' reads standard input)."""
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text()
    except OSError as exc:
        raise DataError(f"cannot read the list of files {path}: {exc.strerror}") from exc
    return [Path(line) for line in text.splitlines() if line.strip()]


def chunks(items: Sequence[Item], size: int) -> Iterator[Sequence[Item]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def local_reader(s: Settings, clf: Classifier) -> Reader:
    """The daemon's worker pool, two chunks in flight so no core waits."""
    from watcher.workers import Model, WorkerPool

    def read(items: Sequence[Item]) -> Iterator[list[Answer]]:
        pool = WorkerPool(s.workers, s.max_file_bytes, s.max_pixels, s.batch_max)
        model = Model.serving(clf)
        try:
            pool.warm(model)
            inflight: deque[tuple[Sequence[Item], Any]] = deque()
            for chunk in chunks(items, s.batch_max):
                inflight.append((chunk, pool.submit([i.path for i in chunk], model)))
                if len(inflight) > 1:
                    yield _answered(*inflight.popleft(), pool, clf)
            while inflight:
                yield _answered(*inflight.popleft(), pool, clf)
        finally:
            pool.shutdown()

    return read


def _answered(chunk: Sequence[Item], pending: Any, pool: Any, clf: Classifier) -> list[Answer]:
    prepared = pool.collect(pending)
    classify_in_place(prepared, clf.predict, clf.calibration)  # what a worker could not classify (no interpreter there)
    return [Answer(i.claim, p) for i, p in zip(chunk, prepared, strict=True)]


class RayReader:
    """One Ray actor: a one-thread LiteRT engine, built once, reading batches of paths."""

    def __init__(self, content: bytes, second_below: float, max_bytes: int, max_pixels: int,
                 calibration: Calibration = UNCALIBRATED) -> None:
        import cv2
        import ray

        from watcher.model import SERVE_BATCH, LiteEngine

        cv2.setNumThreads(1)
        self.engine = LiteEngine(content, threads=1, max_batch=SERVE_BATCH, second_below=second_below)
        self.max_bytes, self.max_pixels, self.calibration = max_bytes, max_pixels, calibration
        self.node = ray.get_runtime_context().get_node_id()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from watcher.pipeline import read_all

        prepared = read_all([str(p) for p in batch["path"]], self.max_bytes, self.max_pixels,
                            lambda x: self.engine(x.reshape(-1, 28, 28, 1)), self.calibration)
        return {
            "claim": batch["claim"],
            "reading": np.array([reading.dumps(p.reading) for p in prepared], object),
            "error": np.array([p.error for p in prepared], object),
            "sha256": np.array([p.sha256 for p in prepared], object),
            "node": np.array([self.node] * len(prepared), object),
        }


def ray_reader(s: Settings, clf: Classifier, address: str, chunk: int = 256) -> Reader:
    """Ray Data over a local Ray (`address` "local") or an existing cluster (`host:port`)."""
    if clf.content is None:
        raise ConfigError(f"--ray serves LiteRT models; {clf.path} is not one: make one with `digit-watcher export`")
    if address != "local" and "RAY_AUTH_MODE" not in os.environ and _ray_token_available() and _asks_for_token(address):
        # `ray start` turns token authentication on when it finds the user's token; Ray's driver
        # uses it only for a cluster it found itself, not for an explicit ADDRESS. Only for a
        # cluster that asks for it: a token-mode driver beside a cluster without authentication
        # connects, but the nodes' calls back to it are refused (seen). Read at import: set first.
        os.environ["RAY_AUTH_MODE"] = "token"
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray needs Ray: pip install 'digit-watcher[cluster]'") from None

    def stream(items: Sequence[Item]) -> Iterator[list[Answer]]:
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        listed = ray.data.from_items([{"path": i.path, "claim": i.claim} for i in items],
                                     override_num_blocks=max(1, min(len(items) // chunk + 1, 32 * cpus)))
        ds = listed.map_batches(RayReader, batch_size=chunk, batch_format="numpy", num_cpus=1,
                                compute=ray.data.ActorPoolStrategy(min_size=cpus, max_size=cpus),
                                fn_constructor_kwargs={"content": clf.content, "second_below": clf.second_below,
                                                       "max_bytes": s.max_file_bytes, "max_pixels": s.max_pixels,
                                                       "calibration": clf.calibration})
        for b in ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=2):
            out = []
            for cid, text, err, sha, node in zip(b["claim"], b["reading"], b["error"], b["sha256"], b["node"],
                                                 strict=True):
                out.append(Answer(str(cid), Prepared(str(sha), None, str(err), 0.0, reading.loads(str(text))),
                                  str(node)))
            yield out

    def read(items: Sequence[Item]) -> Iterator[list[Answer]]:
        import logging

        if not ray.is_initialized():
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False, include_dashboard=False)
        logging.getLogger("ray").setLevel(logging.ERROR)  # its per-run INFO lines; ours is the summary
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # ours is on the driver's terminal
        ctx.print_on_execution_start = False
        ctx.max_consecutive_actor_init_deaths = 10  # an actor lost while it starts is replaced
        # Ray Data retries the work of actors it loses; what it gives up on (seen here: an actor
        # released while still starting, as its node went or the others had taken all the work)
        # ends the dataset. What was answered is kept; the rest is read again in a new one.
        left = list(items)
        for attempt in range(1, RAY_ATTEMPTS + 1):
            answered: set[str] = set()
            try:
                for out in stream(left):
                    answered.update(a.claim for a in out)
                    yield out
                return
            except ray.exceptions.RayError as exc:
                left = [i for i in left if i.claim not in answered]
                if attempt == RAY_ATTEMPTS:
                    raise
                print(f"batch: Ray lost work ({type(exc).__name__}: {str(exc).splitlines()[0]}); reading the "
                      f"{len(left)} file(s) left again", file=sys.stderr, flush=True)

    return read


def _asks_for_token(address: str) -> bool:
    """Does the cluster at `address` refuse a driver without a token? Asked in a child process
    (one call to its GCS, under a second here), so this process's Ray starts in the right mode."""
    probe = ("import sys\nfrom ray._raylet import GcsClient\n"
             "try:\n    GcsClient(address=sys.argv[1], cluster_id=None).internal_kv_get(b'-', None, timeout=5)\n"
             "except Exception as exc:\n    print(type(exc).__name__, exc)\n")
    try:
        r = subprocess.run([sys.executable, "-c", probe, address], capture_output=True, text=True, timeout=60,
                           env={k: v for k, v in os.environ.items() if k != "RAY_AUTH_MODE"})
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "InvalidAuthToken" in r.stdout or "AuthenticationError" in r.stdout


def _ray_token_available() -> bool:
    """The places Ray's own token loader looks (its token-authentication docs)."""
    if os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return True
    return (Path.home() / ".ray" / "auth_token").is_file()


def run(sources: Sequence[Path], out: Path, s: Settings, clf: Classifier, reader: Reader,
        progress: bool | None = None) -> Summary:
    """List, skip what OUT/results.csv has, read the rest through `reader`, record each file once."""
    t0 = time.perf_counter()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the output folder {out}: {exc.strerror}") from exc
    lock = OutboxLock(out)
    sink = ResultsFile(out / "results.csv")
    digits = ResultsFile(out / "digits.csv", DIGIT_HEADER)  # each chunk's digits are written before its rows
    try:
        items = list(list_sources(sources))
        recorded = set(claims_recorded(sink.path))
        if digits.has_rows():
            digits.keep_only(recorded)
        todo = [i for i in items if i.claim not in recorded]
        todo = list({i.claim: i for i in todo}.values())  # a file named twice is read once
        by_claim = {i.claim: i for i in todo}
        counts: Counter[str] = Counter()
        nodes: Counter[str] = Counter()
        from tqdm import tqdm

        with tqdm(total=len(todo), unit="files", disable=not (sys.stderr.isatty() if progress is None else progress),
                  file=sys.stderr, smoothing=0.1) as bar:
            for answered in reader(todo) if todo else ():
                when = now_iso()
                rows, per_digit = [], []
                for a in answered:
                    if a.claim in recorded:
                        continue  # answered twice (a retried task): the first answer stands
                    recorded.add(a.claim)
                    p = a.prepared
                    rel = by_claim[a.claim].rel
                    rows.append(make_row(rel, a.claim, p, p.reading, s.review_threshold, clf.version, when,
                                         s.read == "digit"))
                    per_digit += digit_rows(a.claim, rel, p.reading)
                    if a.node:
                        if a.node not in nodes:  # a node joins the work: say so as it happens
                            bar.write(f"batch: Ray node {a.node[:12]} reading ({len(nodes) + 1} so far)", file=sys.stderr)
                            sys.stderr.flush()
                        nodes[a.node] += 1
                digits.append(per_digit)
                sink.append(rows)
                counts.update(r.status for r in rows)
                bar.update(len(rows))
    finally:
        sink.close()
        digits.close()
        lock.release()
    return Summary(len(items), len(items) - len(todo), counts, time.perf_counter() - t0, nodes)
