"""The HTTP function: routing, the JSON error contract and the request log (README).

    GET  /healthz    200 {"status": "ok"}
    POST /render     200 manifests: multi-document YAML, or JSON with `Accept: application/json`
    POST /validate   200 findings when clean                                   (api_ci.py)
    POST /webhook    a signed Git push: render, commit and push back (or queue)    (webhook.py)
    POST /pubsub     a queued push from Pub/Sub's push subscription: render it     (pubsub.py)
    any of them      422 findings when any is an error; 4xx {"error": ...} when refused

Every answer but a YAML render is JSON. A refusal is a 4xx with `{"error": ...}`; a server
setting that cannot work is a 503 naming the variable; 500 means a bug, whose details go to the
server log only, scrubbed of secrets. Each request writes one structured log line.

The configuration is read from the environment on every request (microseconds), so a changed
setting is never served stale. Endpoint modules are imported on first use: /healthz imports
nothing, dulwich loads only on /webhook, kubernetes only for a live cluster.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import traceback
from collections.abc import Mapping
from typing import Any

from werkzeug.wrappers import Request, Response

from wukong_core.endpoints.common import Config, Handler, Instance, Refusal, Reply

log = logging.getLogger("wukong.http")

ROUTES = ("GET /healthz", "POST /render", "POST /validate", "POST /webhook", "POST /pubsub")


class App(Instance):
    """One instance of the HTTP function: what it remembers between requests, and the handler.

    The process that serves (main.py's module, `wukong serve`) keeps one for its lifetime, so a
    warm instance re-renders only what a push changed and reuses its Pub/Sub clients and
    Google's certificates; any number of instances may run side by side.
    """

    def handle(self, request: Request) -> Response:
        """One request -> one response; never raises, never answers with a traceback."""
        started = time.monotonic()
        config = Config()
        try:
            config = Config.from_env()
            reply = _dispatch(request, config, self)
        except Refusal as e:
            reply = Reply(e.status, {"error": config.scrub(e.message), **e.extra})
        except Exception as e:  # a bug: details to the server log, none to the caller
            _log_bug(request, e, config)
            reply = Reply(500, {"error": "internal error: the server log has the details"})
        _log_request(request, reply, time.monotonic() - started, config)
        return _response(reply)


def healthz(request: Request, config: Config, kept: Instance) -> Reply:
    return Reply(200, {"status": "ok"})


def _endpoint(path: str) -> tuple[tuple[str, ...], Handler] | None:
    if path == "/healthz":
        return ("GET", "HEAD"), healthz
    if path in ("/render", "/validate"):
        from wukong_core.endpoints import ci as api_ci

        return ("POST",), api_ci.render if path == "/render" else api_ci.validate
    if path == "/webhook":
        from wukong_core.endpoints import webhook as api_webhook

        return ("POST",), api_webhook.webhook
    if path == "/pubsub":
        from wukong_core.endpoints import pubsub as api_pubsub

        return ("POST",), api_pubsub.pubsub
    return None


def _dispatch(request: Request, config: Config, kept: Instance) -> Reply:
    path = request.path.rstrip("/") or "/"
    endpoint = _endpoint(path)
    if endpoint is None:
        raise Refusal(404, f"no endpoint {path[:100]!r}", routes=list(ROUTES))
    methods, handler = endpoint
    if request.method not in methods:
        raise Refusal(
            405,
            f"{path} takes {' or '.join(methods)}, not {request.method[:20]}",
            allow=list(methods),
        )
    return handler(request, config, kept)


def _response(reply: Reply) -> Response:
    if isinstance(reply.body, bytes):
        data = reply.body
    else:
        text = json.dumps(reply.body, sort_keys=True, ensure_ascii=False) + "\n"
        # A lone surrogate (a non-UTF-8 byte read with surrogateescape) must not turn an
        # answer into a crash: it goes out as its JSON escape.
        data = text.encode("utf-8", "backslashreplace")
    headers = dict(reply.headers)
    if reply.status == 405 and isinstance(reply.body, dict):
        headers["Allow"] = ", ".join(reply.body.get("allow", []))
    return Response(data, status=reply.status, content_type=reply.content_type, headers=headers)


def framework_error(status: int, description: str) -> Response:
    """JSON for the few answers the framework gives itself (e.g. 404 for /favicon.ico)."""
    return _response(Reply(status, {"error": description[:200]}))


# --- logging ------------------------------------------------------------------------------------


def configure_logging() -> None:
    """Root logger -> Cloud Logging structured JSON lines on stderr; installed once."""
    root = logging.getLogger()
    if any(getattr(h, "wukong", False) for h in root.handlers):
        return
    # The one heavy import of a cold start (~0.7 s: it loads its API client too); its line
    # format is what Cloud Logging parses into severity, trace and httpRequest.
    from google.cloud.logging_v2.handlers import StructuredLogHandler

    handler = StructuredLogHandler(project_id=os.environ.get("GOOGLE_CLOUD_PROJECT") or None)
    handler.wukong = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.INFO)


_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_CLOUD_TRACE = re.compile(r"([0-9a-fA-F]{32})(?:/(\d{1,20}))?(?:;o=([01]))?")


def trace_fields(headers: Mapping[str, str], project: str | None) -> dict[str, Any]:
    """`trace`, `span_id`, `trace_sampled` of a log record (Cloud Logging LogEntry fields), from
    X-Cloud-Trace-Context "TRACE/SPAN;o=1", else W3C `traceparent`; {} when neither parses."""
    trace = span = None
    sampled = False
    cloud = _CLOUD_TRACE.fullmatch(headers.get("X-Cloud-Trace-Context", "").strip())
    parent = _TRACEPARENT.fullmatch(headers.get("traceparent", "").strip())
    if cloud:
        trace, sampled = cloud[1].lower(), cloud[3] == "1"
        # Cloud Logging wants the span id as 16 hex digits; this header has it in decimal.
        if cloud[2] and int(cloud[2]) < 1 << 64:
            span = f"{int(cloud[2]):016x}"
    elif parent:
        trace, span, sampled = parent[1], parent[2], bool(int(parent[3], 16) & 1)
    if trace is None:
        return {}
    full = f"projects/{project}/traces/{trace}" if project else trace
    return {"trace": full, "span_id": span or "", "trace_sampled": sampled}


def _log_request(request: Request, reply: Reply, seconds: float, config: Config) -> None:
    method, path = request.method[:20], request.path[:200]
    fields: dict[str, Any] = {
        "method": method,
        "path": path,
        "status": reply.status,
        "duration_ms": round(seconds * 1000, 1),
        **reply.log,
    }
    if reply.status >= 400 and isinstance(reply.body, dict):
        fields["error"] = config.scrub(str(reply.body.get("error", "")))[:500]
    http_request = {
        "requestMethod": method,
        "requestUrl": path,  # no query string: nothing a caller puts there reaches the log
        "status": reply.status,
        "latency": f"{seconds:.3f}s",
        "userAgent": request.headers.get("User-Agent", "")[:200],
    }
    extra = {"json_fields": fields, "http_request": http_request}
    extra |= trace_fields(request.headers, os.environ.get("GOOGLE_CLOUD_PROJECT") or None)
    level = logging.ERROR if reply.status >= 500 else logging.INFO
    log.log(level, "%s %s %s", method, path, reply.status, extra=extra)


def _log_bug(request: Request, error: BaseException, config: Config) -> None:
    # Formatted and scrubbed here rather than exc_info=: a library's message may quote a URL.
    text = config.scrub("".join(traceback.format_exception(error)))
    log.error("unhandled error on %s %s\n%s", request.method[:20], request.path[:200], text)


# --- local serving ------------------------------------------------------------------------------


def serve(host: str, port: int) -> None:
    """`wukong serve`: the same handler on werkzeug's threaded server.

    Not functions-framework: main.py is not in the installed package and this needs no source
    path. Production runs `functions-framework --target wukong` (gunicorn) over main.py.
    """
    from werkzeug.serving import run_simple

    configure_logging()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # our own line per request suffices
    run_simple(host, port, Request.application(App().handle), threaded=True)  # type: ignore[arg-type]
