"""The `digit-watcher` command: a thin layer over the library. Start-up errors print one clear
message on stderr and exit non-zero (codes in `errors`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from loguru import logger

from watcher.errors import StartupError
from watcher.settings import Settings

if TYPE_CHECKING:
    from watcher.model import Classifier


def setup_logging(level: str = "INFO", fmt: str = "text", log_file: Path | None = None,
                  rotation: str = "10 MB", retention: int = 5) -> None:
    """Human-readable on a terminal, JSON lines when asked (journald, log shippers); a log file
    rotates by size."""
    logger.remove()
    serialize = fmt == "json"
    text = "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> <level>{level: <7}</level> {message}"
    logger.add(sys.stderr, level=level, serialize=serialize, format=text if not serialize else "{message}",
               colorize=None if not serialize else False, backtrace=False, diagnose=False)
    if log_file is not None:
        logger.add(str(log_file), level=level, serialize=serialize, rotation=rotation, retention=retention,
                   enqueue=True, backtrace=False, diagnose=False)


def _settings(a: argparse.Namespace) -> Settings:
    from watcher.settings import load

    return load(getattr(a, "config", None), inbox=getattr(a, "inbox", None), outbox=getattr(a, "outbox", None),
                model=getattr(a, "model", None), watch_mode=getattr(a, "watch_mode", None),
                log_level=getattr(a, "log_level", None), log_format=getattr(a, "log_format", None),
                metrics=True if getattr(a, "metrics", False) else None)


def _classifier(s: Settings, verify: bool = True) -> Classifier:
    """The model the settings name (its newest version), loaded as the daemon serves it."""
    from watcher import model as M

    return M.load(M.newest_version(s.model_path), verify=verify, threads=s.threads,
                  second_below=s.second_opinion_below)


def cmd_run(a: argparse.Namespace) -> int:
    s = _settings(a)
    setup_logging(s.log_level, s.log_format, s.log_file, s.log_rotation, s.log_retention)
    from watcher.daemon import Daemon, install_signal_handlers

    clf = _classifier(s)
    d = Daemon(s, clf, once=a.once)
    install_signal_handlers(d)
    return d.run()


def cmd_check_config(a: argparse.Namespace) -> int:
    s = _settings(a)
    eff = json.loads(s.model_dump_json())
    eff["model"] = str(s.model_path)
    for k, v in eff.items():
        print(f"{k} = {json.dumps(v)}")
    return 0


def cmd_predict(a: argparse.Namespace) -> int:
    s = _settings(a)
    setup_logging("WARNING")
    from watcher.pipeline import make_row, read_all
    from watcher.results import HEADER, encode_rows

    clf = _classifier(s, verify=False)
    paths = [str(p) for p in a.files]
    prepared = read_all(paths, s.max_file_bytes, s.max_pixels, clf.predict, clf.calibration)
    rows = [make_row(p, "", pr, pr.reading, s.review_threshold, clf.version, one_digit=s.read == "digit")
            for p, pr in zip(paths, prepared, strict=True)]
    sys.stdout.buffer.write(HEADER + encode_rows(rows))
    sys.stdout.flush()
    return 1 if any(r.status == "error" for r in rows) else 0


def cmd_batch(a: argparse.Namespace) -> int:
    from watcher import batch as B
    from watcher.settings import load

    s = load(a.config, model=a.model)
    setup_logging("WARNING")
    clf = _classifier(s)
    sources = list(a.sources) + (B.read_list(a.files_from) if a.files_from else [])
    if not sources:
        print("digit-watcher: error: batch needs a folder or file to read (SRC or --files-from)", file=sys.stderr)
        return 2
    reader = B.ray_reader(s, clf, a.ray) if a.ray else B.local_reader(s, clf)
    summary = B.run(sources, a.out, s, clf, reader)
    print(summary.line(a.out), file=sys.stderr)
    return 0


def cmd_review(a: argparse.Namespace) -> int:
    from watcher import reviewpage
    from watcher.daemon import ensure_folders
    from watcher.settings import load

    s = load(a.config, outbox=a.outbox, model=a.model)
    setup_logging(s.log_level, s.log_format)
    host = a.host or s.review_host
    password = s.review_password.get_secret_value()
    reviewpage.check_bind(host, password)  # before anything loads
    _, outbox = ensure_folders(s)
    clf = _classifier(s, verify=False)
    reviewpage.serve(outbox, host, a.port or s.review_port, password, clf.predict, s.max_file_bytes, s.max_pixels)
    return 0


def cmd_results(a: argparse.Namespace) -> int:
    import io

    from watcher.corrections import write_final_table
    from watcher.settings import load

    s = load(a.config, outbox=a.outbox)
    outbox = s.outbox.expanduser().absolute()
    if not (outbox / "results.csv").is_file():
        print(f"digit-watcher: error: no results.csv in {outbox}", file=sys.stderr)
        return 4
    buf = io.StringIO()
    write_final_table(outbox, buf)
    sys.stdout.write(buf.getvalue())
    return 0


def cmd_finetune(a: argparse.Namespace) -> int:
    from watcher import finetune as F
    from watcher import model as M
    from watcher.errors import ModelError, ModelRefused
    from watcher.settings import load

    s = load(a.config)
    serving = M.newest_version(s.model_path)
    if serving.suffix != ".tflite":
        raise ModelError(f"the serving model {serving} is not a .tflite file; export it first")
    base = a.base or serving.with_suffix(".keras")
    if not base.is_file():
        raise ModelError(f"no Keras model to fine-tune at {base}: give one with --base")
    r = F.fine_tune(a.corrections, base, serving, a.out, a.data, s.review_threshold, epochs=a.epochs or 2,
                    lr=a.lr, mnist_share=a.limit or 20000, verbose=1 if sys.stderr.isatty() else 2)
    for line in F.report_lines(r):
        print(line)
    if r.refused:
        raise ModelRefused(r.refused)
    return 0


def cmd_train(a: argparse.Namespace) -> int:
    import dataclasses

    if a.corrections is not None:
        return cmd_finetune(a)

    from watcher.train import MEMBERS, train

    members = MEMBERS[: a.members] if a.members else MEMBERS
    if a.epochs:
        members = tuple(dataclasses.replace(m, epochs=a.epochs) for m in members)
    r = train(a.data, a.out, members=members, limit=a.limit, verbose=1 if sys.stderr.isatty() else 2,
              members_dir=a.members_dir)
    for k, m in enumerate(r.members or []):
        print(f"member {k}: seed {m['seed']}, {m['render_share']:.0%} rendered, {m['epochs']} epochs: "
              f"test accuracy {m['mnist_test_accuracy']:.4f}, temperature {m['temperature']:.3f}")
    print(f"test accuracy {r.mnist_test_accuracy:.4f}  calibration error {r.test_ece:.4f}  "
          f"suggested review threshold {r.review_threshold}  ({r.seconds:.0f}s)")
    print(f"saved {r.model} (version {r.version}) and {Path(r.model).with_suffix('.json')}")
    print(f"exported {r.served} (version {r.served_version}): the file the daemon serves")
    return 0


def cmd_export(a: argparse.Namespace) -> int:
    from watcher import model as M
    from watcher.export import export

    out = export(a.model, a.out, quantize=not a.float)
    clf = M.load(out)  # the exported file must pass the same checks the daemon makes
    print(f"exported {out} (version {clf.version})")
    return 0


def cmd_evaluate(a: argparse.Namespace) -> int:
    from watcher import evaluate as E
    from watcher.settings import load

    s = load(a.config, model=a.model)
    clf = _classifier(s, verify=False)
    threshold = s.review_threshold if a.threshold is None else a.threshold
    if a.labels is not None:
        from watcher.datasets import read_header
        from watcher.pipeline import prepare_all

        items = E.text_labels(a.labels)
        prepared = prepare_all([str(p) for p, _ in items], 200_000_000, 200_000_000, clf.predict, clf.calibration)
        reading = E.evaluate_readings(clf, items, threshold, a.labels.parent.name, one_digit=s.read == "digit",
                                      prepared=prepared)
        for line in reading.lines():
            print(line)
        worst = E.worst_sheet(reading, a.out / "worst.png")
        print(f"wrote {worst}")
        if "label" not in read_header(a.labels):
            return 0  # not single digits: no confusion matrix
        rep, x, probs, found, labels = E.evaluate_folder(
            clf, a.labels, threshold, prepared={str(p): q for (p, _), q in zip(items, prepared, strict=True)})
    else:
        rep, x, probs, found, labels = E.evaluate_mnist(clf, a.data, threshold)
    for line in rep.lines():
        print(line)
    cm, sheet = E.write_pictures(rep, x, probs, found, labels, a.out)
    print(f"wrote {cm} and {sheet}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="digit-watcher", description="Recognise handwritten digits dropped into a folder.")
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--config", type=Path, help="TOML config file (default: config/digit-watcher.toml of the repo)")
        sp.add_argument("--model", type=Path, help="a .tflite or .keras model file (default: the shipped model)")

    r = sub.add_parser("run", help="watch the inbox and classify every image that arrives")
    common(r)
    r.add_argument("--inbox", type=Path)
    r.add_argument("--outbox", type=Path)
    r.add_argument("--once", action="store_true", help="process what is in the inbox, then exit")
    r.add_argument("--watch-mode", choices=["native", "polling"], help="polling for NFS/SMB mounts")
    r.add_argument("--log-level")
    r.add_argument("--log-format", choices=["text", "json"])
    r.add_argument("--metrics", action="store_true", help="serve /metrics and /healthz")
    r.set_defaults(fn=cmd_run)

    c = sub.add_parser("check-config", help="validate and print the effective configuration")
    common(c)
    c.add_argument("--inbox", type=Path)
    c.add_argument("--outbox", type=Path)
    c.set_defaults(fn=cmd_check_config)

    pr = sub.add_parser("predict", help="classify files once; CSV rows on stdout")
    common(pr)
    pr.add_argument("files", nargs="+", type=Path)
    pr.set_defaults(fn=cmd_predict)

    b = sub.add_parser("batch", help="read folders of images where they lie (resumable); rows to OUT/results.csv")
    common(b)
    b.add_argument("sources", nargs="*", type=Path, metavar="SRC", help="folders (read recursively) or image files")
    b.add_argument("--files-from", type=Path, metavar="LIST", help="a file of paths, one a line ('-': standard input)")
    b.add_argument("--out", type=Path, required=True, help="folder for results.csv (a rerun resumes it)")
    b.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="run on Ray Data: a local Ray, or the cluster at ADDRESS (host:port of `ray start --head`)")
    b.set_defaults(fn=cmd_batch)

    rv = sub.add_parser("review", help="a page to check and correct the review queue (beside a running daemon)")
    common(rv)
    rv.add_argument("--outbox", type=Path)
    rv.add_argument("--host", help="address to listen on (default 127.0.0.1; another needs review_password)")
    rv.add_argument("--port", type=int, help="port (default 8765)")
    rv.set_defaults(fn=cmd_review)

    rs = sub.add_parser("results", help="results.csv with the people's review decisions applied, on stdout")
    rs.add_argument("--config", type=Path)
    rs.add_argument("--outbox", type=Path)
    rs.set_defaults(fn=cmd_results)

    t = sub.add_parser("train", help="train a model from MNIST's train split")
    t.add_argument("--data", type=Path, help="MNIST npz in the Keras layout (default: Keras' download)")
    t.add_argument("--out", type=Path, required=True,
                   help="where to save the .keras model; with --corrections, the folder of numbered versions")
    t.add_argument("--corrections", type=Path, metavar="CSV",
                   help="fine-tune the serving model on OUTBOX/corrections.csv (the review page's decisions)")
    t.add_argument("--base", type=Path, help="with --corrections: the .keras model to start from (default: "
                                             "the one beside the serving .tflite)")
    t.add_argument("--lr", type=float, default=1e-4, help="with --corrections: the learning rate")
    t.add_argument("--config", type=Path, help="with --corrections: the daemon's config (model, review_threshold)")
    t.add_argument("--epochs", type=int, help="epochs for every member (default: each member's recipe)")
    t.add_argument("--members", type=int, help="train only the first N members of the recipe (quick checks)")
    t.add_argument("--members-dir", type=Path,
                   help="where member networks are kept; a finished one is reused (default: OUT's stem + .members/)")
    t.add_argument("--limit", type=int, help="use only the first N train images (quick checks); with "
                                              "--corrections, how many MNIST train digits to mix in (20000)")
    t.set_defaults(fn=cmd_train)

    x = sub.add_parser("export", help="make the .tflite the daemon serves from a .keras model")
    x.add_argument("model", type=Path, help="a .keras model, as `train` writes it")
    x.add_argument("--out", type=Path, help="where to write it (default: beside MODEL, as .tflite)")
    x.add_argument("--float", action="store_true", help="keep float32 weights (slower; no quantisation)")
    x.set_defaults(fn=cmd_export)

    e = sub.add_parser("evaluate", help="accuracy, calibration and pictures on a labeled set")
    common(e)
    src = e.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", type=Path, help="MNIST npz: its test split is evaluated")
    src.add_argument("--labels", type=Path, help="a labels.csv (file,label) beside its images")
    e.add_argument("--out", type=Path, default=Path("evaluation"), help="folder for the PNGs")
    e.add_argument("--threshold", type=float, help="review threshold (default: the configured one)")
    e.set_defaults(fn=cmd_evaluate)
    return p


def main(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    try:
        return int(a.fn(a))
    except StartupError as exc:
        print(f"digit-watcher: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130

if __name__ == "__main__":
    sys.exit(main())
