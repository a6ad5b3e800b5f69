"""Settings: defaults < TOML config file < DIGIT_WATCHER_* environment < command-line flags.

Validated by pydantic-settings at start-up; a bad value stops the service with a message naming
the setting, the value and what is allowed (ConfigError, exit code 2). Relative paths in the
config file are relative to that file's folder; on the command line or in the environment,
relative to the working directory.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from watcher.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
#: Used when no --config is given: the repo's own config when run from a checkout.
DEFAULT_CONFIG = REPO / "config" / "digit-watcher.toml"
ENV_PREFIX = "DIGIT_WATCHER_"
PATH_KEYS = ("inbox", "outbox", "model", "log_file")


class Settings(BaseSettings):
    """Every setting the daemon reads. The TOML file documents each one."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", validate_default=True)

    inbox: Path = Field(default=Path("inbox"), description="folder watched for new images")
    outbox: Path = Field(default=Path("outbox"), description="results.csv and processed/, failed/, review/")
    model: Path | None = Field(default=None, description="a .tflite or .keras model file; empty = the shipped model")

    watch_mode: Literal["native", "polling"] = "native"
    poll_interval_s: float = Field(default=2.0, gt=0, le=3600)
    settle_s: float = Field(default=1.0, ge=0, le=3600, description="size and mtime must be stable this long")
    rescan_interval_s: float = Field(default=60.0, gt=0, le=86400)

    batch_max: int = Field(default=1024, ge=1, le=4096)
    batch_wait_ms: float = Field(default=2.0, ge=0, le=10000)
    decode_workers: int = Field(default=0, ge=0, le=64, description="0 = one per CPU core")
    inference_threads: int = Field(default=0, ge=0, le=64, description="0 = one per CPU core")
    second_opinion_below: float = Field(
        default=0.95, ge=0, le=1,
        description="an ensemble's second network reads only files its first reads below this confidence; 1 = all")

    max_file_bytes: int = Field(default=50_000_000, ge=1)
    max_pixels: int = Field(default=64_000_000, ge=1)

    review_threshold: float = Field(default=0.85, ge=0, le=1)
    read: Literal["auto", "digit"] = Field(
        default="auto",
        description='"auto": every digit in a file; "digit": one per file, and a file where several are found goes to review')

    claim_lease_s: float = Field(
        default=300.0, ge=10, le=86400,
        description="a daemon's claims in a shared inbox are taken over by another after its lease is this long unrenewed")

    model_poll_s: float = Field(default=5.0, gt=0, le=3600, description="how often to look for a new model")
    shutdown_timeout_s: float = Field(default=10.0, gt=0, le=600)

    log_level: Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    log_file: Path | None = None
    log_rotation: str = "10 MB"
    log_retention: int = Field(default=5, ge=1)

    metrics: bool = False
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9108, ge=1, le=65535)

    review_host: str = "127.0.0.1"
    review_port: int = Field(default=8765, ge=1, le=65535)
    review_password: SecretStr = Field(default=SecretStr(""), description="needed on every request when set; "
                                       "required to listen beyond loopback")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v

    @field_validator("model", "log_file", mode="before")
    @classmethod
    def _empty_is_none(cls, v: Any) -> Any:
        return None if v == "" else v

    @model_validator(mode="after")
    def _folders_apart(self) -> Settings:
        inbox, outbox = self.inbox.resolve(), self.outbox.resolve()
        if inbox == outbox or inbox in outbox.parents or outbox in inbox.parents:
            raise ValueError(f"inbox ({inbox}) and outbox ({outbox}) must not contain each other: "
                             "results would be fed back in")
        return self

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _TomlSource(settings_cls, _CONFIG_FILE[0])

    @property
    def model_path(self) -> Path:
        from watcher.model import SHIPPED_MODEL

        return self.model or SHIPPED_MODEL

    @property
    def workers(self) -> int:
        return self.decode_workers or os.cpu_count() or 1

    @property
    def threads(self) -> int:
        return self.inference_threads or os.cpu_count() or 1


_CONFIG_FILE: list[Path | None] = [None]


class _TomlSource(PydanticBaseSettingsSource):
    """The config file, with its relative paths made relative to the file's own folder."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self.data: dict[str, Any] = {}
        if path is None:
            return
        try:
            with open(path, "rb") as f:
                raw = tomllib.load(f)
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
        section = raw.get("digit-watcher", raw)
        for key in PATH_KEYS:
            v = section.get(key)
            if isinstance(v, str) and v and not Path(v).is_absolute():
                section[key] = str((path.parent / v).resolve())
        self.data = dict(section)

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.data)


def describe(exc: ValidationError, config: Path | None) -> str:
    """One line per bad setting: its name, the value given and what is allowed."""
    lines = []
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"]) or "config"
        given = err.get("input")
        allowed = err["msg"]
        if err["type"] == "extra_forbidden":
            allowed = f"unknown setting (known: {', '.join(Settings.model_fields)})"
        if name == "config":
            lines.append(f"invalid configuration: {allowed}")
        else:
            lines.append(f"invalid setting {name} = {given!r}: {allowed} "
                         f"(config file {config or 'none'}, or env {ENV_PREFIX}{name.upper()})")
    return "\n".join(lines)


def load(config: Path | None = None, **overrides: Any) -> Settings:
    """Effective settings from the config file (default: the repo's, if present), the environment
    and explicit overrides (CLI flags; None means not given). Raises ConfigError."""
    if config is None:
        env_cfg = os.environ.get(ENV_PREFIX + "CONFIG")
        config = Path(env_cfg) if env_cfg else (DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None)
    elif not config.is_file():
        raise ConfigError(f"config file not found: {config}")
    given = {k: v for k, v in overrides.items() if v is not None}
    _CONFIG_FILE[0] = config
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise ConfigError(describe(exc, config)) from exc
    finally:
        _CONFIG_FILE[0] = None
