"""`digit-watcher review`: the review queue as a page, keyboard first, beside a running daemon.

An ASGI app (Starlette) under uvicorn, Jinja2 templates, plain JavaScript (watcher/static), no
build step and nothing fetched from elsewhere. The decisions themselves are `corrections.Desk`'s:
this module is only the web side of it.

Safe to open:
- binds to loopback unless told otherwise, and refuses another address without a password
  (`review_password`); when a password is set every request needs it (HTTP basic auth, any user
  name, which is recorded as `decided_by`). Put TLS in front of it (a reverse proxy) off loopback.
- state changes are POSTs of JSON carrying the page's token in a header (a cross-site page cannot
  read the token nor send the header without a CORS preflight, which is never granted), and an
  Origin, when the browser sends one, must be this server's.
- images are served by claim id, only for files in review/ (no path in any URL), opened without
  following links; every name goes to the page as text (Jinja2 autoescape, textContent in JS).
- a strict Content-Security-Policy: scripts, styles and images from this server only.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import secrets
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from watcher import decode
from watcher.corrections import Decision, Desk, Item, shown_name, write_final_table
from watcher.errors import ConfigError, FileFailure, ReviewRefused
from watcher.pipeline import REVIEW_PREFIX, prepare

HERE = Path(__file__).resolve().parent
CLAIM = re.compile(r"[A-Za-z0-9_-]{1,100}")
BROWSER_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "gif": "image/gif", "webp": "image/webp", "bmp": "image/bmp"}
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, password: str) -> None:
    if not is_loopback(host) and not password:
        raise ConfigError(f"the review page would listen on {host}, beyond this machine, without a password: set "
                          "review_password (or DIGIT_WATCHER_REVIEW_PASSWORD), and put TLS in front of it")


class BasicAuth:
    """Every request needs the password (any user name) when one is set."""

    def __init__(self, app: ASGIApp, password: str) -> None:
        self.app, self.password = app, password

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]],
                      send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] != "http" or not self.password:
            await self.app(scope, receive, send)
            return
        user = self._user(dict(scope["headers"]).get(b"authorization", b""))
        if user is None:
            await Response("a password is needed", 401, {"WWW-Authenticate": 'Basic realm="digit-watcher review"'},
                           media_type="text/plain")(scope, receive, send)
            return
        scope.setdefault("state", {})["user"] = user
        await self.app(scope, receive, send)

    def _user(self, header: bytes) -> str | None:
        kind, _, value = header.partition(b" ")
        if kind.lower() != b"basic":
            return None
        try:
            user, _, given = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user or "reviewer" if secrets.compare_digest(given.encode(), self.password.encode()) else None


class Runners:
    """The model's top readings of a file, for the page (computed once a file, on demand)."""

    def __init__(self, predict: Callable[[np.ndarray], np.ndarray] | None, max_bytes: int, max_pixels: int) -> None:
        self.predict, self.max_bytes, self.max_pixels = predict, max_bytes, max_pixels
        self._memo: dict[str, list[tuple[int, float]]] = {}
        self._lock = threading.Lock()

    def of(self, item: Item) -> list[tuple[int, float]]:
        if self.predict is None:
            return []
        with self._lock:
            if item.claim not in self._memo:
                p = prepare(item.path, self.max_bytes, self.max_pixels)
                if p.layout is None or not p.layout.single:
                    self._memo[item.claim] = []  # runners-up are for a file of one digit
                else:
                    probs = self.predict(p.layout.first().x[None])[0]
                    top = np.argsort(probs)[::-1][:3]
                    self._memo[item.claim] = [(int(d), round(float(probs[d]), 4)) for d in top]
            return self._memo[item.claim]


def item_json(i: Item) -> dict[str, str]:
    return {"claim": i.claim, "file": shown_name(i.file), "reading": i.reading, "confidence": i.confidence, "time": i.time,
            "why": i.why.removeprefix(REVIEW_PREFIX)}


def make_app(outbox: Path, password: str = "", predict: Callable[[np.ndarray], np.ndarray] | None = None,
             max_bytes: int = 50_000_000, max_pixels: int = 64_000_000) -> ASGIApp:
    desk = Desk(outbox)
    desk.finish_pending()  # a decision whose move a crash interrupted
    lock = threading.Lock()  # one request at a time touches the desk's caches
    token = secrets.token_urlsafe(24)
    templates = Jinja2Templates(directory=str(HERE / "templates"))  # autoescapes .html
    runners = Runners(predict, max_bytes, max_pixels)

    cache: dict[str, Any] = {"key": None, "items": [], "by_claim": {}}

    def state_key() -> tuple[int, ...]:
        out = []
        for f in (outbox / "results.csv", desk.path, desk.review):
            try:
                st = f.stat()
                out += [st.st_size, st.st_mtime_ns]
            except FileNotFoundError:
                out += [-1, -1]
        return tuple(out)

    def queue() -> list[Item]:
        """The queue, worked out again only when results, decisions or review/ changed."""
        with lock:
            key = state_key()
            if key != cache["key"]:
                items = desk.queue()
                cache.update(key=key, items=items, by_claim={i.claim: i for i in items})
            return list(cache["items"])

    def find(claim: str) -> Item | None:
        queue()
        item: Item | None = cache["by_claim"].get(claim)
        return item if item is not None and Path(item.path).exists() else None

    def who(request: Request) -> str:
        user = request.scope.get("state", {}).get("user")
        return str(user) if user else f"reviewer@{request.client.host if request.client else 'unknown'}"

    def same_origin(request: Request) -> bool:
        origin = request.headers.get("origin")
        if origin is None:
            return True  # not a browser's cross-site request (those carry Origin on POST)
        return origin in (f"http://{request.headers.get('host', '')}", f"https://{request.headers.get('host', '')}")

    async def guarded(request: Request) -> dict[str, str] | JSONResponse:
        if not secrets.compare_digest(request.headers.get("x-review-token", ""), token) or not same_origin(request):
            return JSONResponse({"error": "refused: not sent by this review page (cross-site request?)"}, 403)
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "the request is not JSON"}, 400)
        if not isinstance(body, dict) or not CLAIM.fullmatch(str(body.get("claim", ""))):
            return JSONResponse({"error": "no valid claim in the request"}, 400)
        return {k: str(v) for k, v in body.items()}

    async def page(request: Request) -> Response:
        items = queue()
        return templates.TemplateResponse(request, "review.html", {
            "items": [item_json(i) for i in items], "first": item_json(items[0]) if items else None, "token": token,
            "outbox": str(outbox)}, headers=HEADERS)

    async def api_queue(request: Request) -> Response:
        return JSONResponse({"items": [item_json(i) for i in queue()]}, headers=HEADERS)

    async def api_item(request: Request) -> Response:
        item = find(request.path_params["claim"])
        if item is None:
            return JSONResponse({"error": "that file is no longer in review/"}, 410, headers=HEADERS)
        with lock:
            boxes = desk.boxes(item.claim)
        return JSONResponse({"runners": runners.of(item), "boxes": boxes}, headers=HEADERS)

    async def image(request: Request) -> Response:
        claim = request.path_params["claim"]
        item = find(claim) if CLAIM.fullmatch(claim) else None
        if item is None:
            return Response("that file is no longer in review/", 410, headers=HEADERS, media_type="text/plain")
        try:
            data = decode.read_bytes(item.path, max_bytes)  # no links followed, regular files only
            kind = decode.sniff(data)
            if kind in BROWSER_TYPES:
                return Response(data, headers=HEADERS, media_type=BROWSER_TYPES[kind])
            import cv2

            ok, png = cv2.imencode(".png", decode.decode(data, max_pixels))  # TIFF and the like: shown as PNG
            if ok:
                return Response(png.tobytes(), headers=HEADERS, media_type="image/png")
        except (FileFailure, OSError):
            pass
        return Response("this file cannot be shown", 415, headers=HEADERS, media_type="text/plain")

    async def change(request: Request, act: Callable[[dict[str, str], str], Decision]) -> Response:
        """A guarded POST that records a decision (or takes one back) on the desk."""
        body = await guarded(request)
        if isinstance(body, Response):
            return body
        try:
            with lock:
                d = act(body, who(request))
        except ReviewRefused as exc:
            return JSONResponse({"error": str(exc)}, exc.http_status, headers=HEADERS)
        return JSONResponse({"ok": True, "file": shown_name(d.file), "after": d.after}, headers=HEADERS)

    async def api_decide(request: Request) -> Response:
        return await change(request, lambda body, by: desk.decide(body["claim"], body.get("after", "").strip(), by))

    async def api_undo(request: Request) -> Response:
        return await change(request, lambda body, by: desk.undo(body["claim"], by))

    async def final(request: Request) -> Response:
        import io

        buf = io.StringIO()
        with lock:
            write_final_table(outbox, buf)
        return Response(buf.getvalue(), headers={**HEADERS, "Content-Disposition": 'attachment; filename="final.csv"'},
                        media_type="text/csv; charset=utf-8")

    app = Starlette(routes=[
        Route("/", page),
        Route("/api/queue", api_queue),
        Route("/api/item/{claim}", api_item),
        Route("/image/{claim}", image),
        Route("/api/decide", api_decide, methods=["POST"]),
        Route("/api/undo", api_undo, methods=["POST"]),
        Route("/final.csv", final),
        Route("/favicon.ico", lambda request: Response(status_code=204)),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ])
    return BasicAuth(app, password)


def serve(outbox: Path, host: str, port: int, password: str, predict: Callable[[np.ndarray], np.ndarray] | None,
          max_bytes: int, max_pixels: int) -> None:
    import uvicorn

    check_bind(host, password)
    app = make_app(outbox, password, predict, max_bytes, max_pixels)
    print(f"review page on http://{host}:{port}/ for {outbox}", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
