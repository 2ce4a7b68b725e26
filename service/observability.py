"""Request ids, structured logs and Prometheus metrics."""

import contextvars
import json
import logging
import re
import sys
import time
import uuid
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.problems import problem_response, unexpected_response

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

REGISTRY = CollectorRegistry()
HTTP_REQUESTS = Counter("tanpu_http_requests", "HTTP requests", ["method", "route", "status"], registry=REGISTRY)
HTTP_LATENCY = Histogram(
    "tanpu_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)
LEDGER_POSTINGS = Counter("tanpu_ledger_postings", "Ledger postings committed", ["kind"], registry=REGISTRY)

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the request id when there is one."""

    # color_message: uvicorn's ANSI-coloured copy of the message, noise in JSON
    _RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "color_message"}

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = request_id_var.get()
        if rid:
            out["request_id"] = rid
        for key, value in record.__dict__.items():
            if key not in self._RESERVED and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.formatter.converter = time.gmtime  # type: ignore[union-attr]
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("uvicorn.access").disabled = True  # our middleware logs each request once


access_log = logging.getLogger("tanpu.access")


class RequestContextMiddleware:
    """X-Request-ID on every response, one access-log line and metrics per request (pure ASGI: cheap)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), None)
        request_id = incoming if incoming and _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        started_response = False

        async def send_tracked(message: Message) -> None:
            nonlocal started_response
            started_response = started_response or message["type"] == "http.response.start"
            await send_with_id(message)

        try:
            try:
                await self.app(scope, receive, send_tracked)
            except Exception as exc:
                # Answered here, not by Starlette's outermost error middleware, which sits outside
                # this one: its 500 would go out without the request id the operator needs.
                if started_response:
                    raise
                await unexpected_response(exc)(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            method = scope["method"]
            HTTP_REQUESTS.labels(method, path, str(status)).inc()
            HTTP_LATENCY.labels(method, path).observe(elapsed)
            access_log.info(
                "request",
                extra={"method": method, "route": path, "status": status, "ms": round(elapsed * 1000, 2)},
            )
            request_id_var.reset(token)


class BodyLimitMiddleware:
    """Refuses request bodies over `max_bytes` with a 413 problem: by Content-Length at once, or
    while reading a body sent without one. Streaming uploads (imports) enforce their own limit."""

    def __init__(self, app: ASGIApp, max_bytes: int, streaming_paths: set[str]) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.streaming_paths = streaming_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.streaming_paths:
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large()(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise HTTPException(413, self._detail())  # answered as a problem by the app's handlers
            return message

        await self.app(scope, limited, send)

    def _detail(self) -> str:
        return f"request bodies are at most {self.max_bytes} bytes"

    def _too_large(self) -> ASGIApp:
        return problem_response(413, "payload_too_large", "Content Too Large", self._detail())
