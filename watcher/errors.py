"""Every kind of failure, as data: its class, the short reason written to the CSV and, for
start-up errors, the process exit code. (The idea is OCRmyPDF's `exceptions.py`.)

Two families:
- `FileFailure`: one input file could not be read. It becomes an `error` row, the file goes to
  `failed/`, and the daemon carries on.
- `StartupError`: the service cannot run at all (bad config, missing model, unusable folders).
  The CLI prints the message and exits with `exit_code`; nothing is half-started.
"""

from __future__ import annotations


class DigitWatcherError(Exception):
    """Base of everything this package raises on purpose."""


# ---- per-file failures: reason goes into the CSV's `error` column ---------------------------


class FileFailure(DigitWatcherError):
    reason = "unreadable file"
    #: what a file still being written also looks like (`unfinished` holds such a file when it
    #: was taken as complete only because it had been still for a while)
    unfinished = False

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.reason)
        self.detail = detail or self.reason

    def __str__(self) -> str:
        return self.detail


class EmptyFile(FileFailure):
    reason = "empty file"
    unfinished = True


class NotAnImage(FileFailure):
    reason = "not an image"


class CorruptImage(FileFailure):
    reason = "corrupt or truncated image"
    unfinished = True


class Encrypted(FileFailure):
    reason = "encrypted PDF (it needs a password to be read)"


class TooLarge(FileFailure):
    reason = "image too large"


class NoDigitFound(FileFailure):
    reason = "no digit found"


class FileVanished(FileFailure):
    reason = "file disappeared before it could be read"


class NotRegularFile(FileFailure):
    reason = "not a regular file (symlinks are not followed)"


class Unreadable(FileFailure):
    reason = "permission denied"


class DecoderCrashed(FileFailure):
    reason = "the image decoder crashed on this file"


# ---- start-up errors: message on stderr, non-zero exit ---------------------------------------


class StartupError(DigitWatcherError):
    exit_code = 1


class ConfigError(StartupError):
    exit_code = 2


class ModelError(StartupError):
    exit_code = 3


class FolderError(StartupError):
    exit_code = 4


class DataError(StartupError):
    """A training or evaluation data set that cannot be read."""

    exit_code = 5


class ModelRefused(StartupError):
    """A fine-tuned model worse than the serving one on MNIST's test split: not written."""

    exit_code = 6


# ---- review decisions: refused, with an HTTP status for the review page ----------------------


class ReviewRefused(DigitWatcherError):
    """A decision that cannot be recorded; the page shows the message, nothing changes."""

    http_status = 409


class AlreadyDecided(ReviewRefused):
    http_status = 409


class NotInReview(ReviewRefused):
    http_status = 410


class BadDecision(ReviewRefused):
    http_status = 400
