"""Log lines: plain text by default; one JSON object per line with MODELREG_LOG_FORMAT=json, carrying the
request id of the request being served (api/request_id.py), plus one access line per request.

Nothing a caller sends is logged beyond method, route path and status: no headers (credentials), no
query strings, no bodies. Errors name exception types; database faults are folded (store/faults.py).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar

__all__ = ["REQUEST_ID", "JsonFormatter", "configure_logging"]

REQUEST_ID: ContextVar[str | None] = ContextVar("modelreg_request_id", default=None)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            entry["request_id"] = request_id
        for field in ("method", "path", "status", "duration_ms"):
            value = record.__dict__.get(field)
            if value is not None:
                entry[field] = value
        if record.exc_info and record.exc_info[1] is not None:
            entry["error"] = type(record.exc_info[1]).__name__
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(log_format: str) -> None:
    """JSON lines for modelreg's own loggers (once per process; the server's own logging setup, granian's,
    keeps its format for its lines); text keeps the defaults."""
    if log_format != "json":
        return
    ours = logging.getLogger("modelreg")
    if any(isinstance(h.formatter, JsonFormatter) for h in ours.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    ours.handlers = [handler]
    ours.propagate = False
    ours.setLevel(logging.INFO)
