"""A forwarding HTTP proxy that adds a fixed latency to every AWS call.

A bare moto server answers in a few milliseconds, which makes per-call
costs look free; a real AWS endpoint takes tens of milliseconds per call.
The benchmark's headline figures point every client (remediate, the floor
script, Cloud Custodian) at this proxy: it sleeps ``latency`` seconds, then
forwards the request unchanged to the moto server and returns its answer.
Concurrent requests are served by concurrent threads, as an endpoint would.

moto answers ``ListFunctions`` in one page whatever ``MaxItems`` says; AWS
returns at most 50 functions a page. The proxy pages it as AWS does: a
listing's first request (no ``Marker``) is forwarded and its answer kept,
and that request and each later one (``Marker`` = the offset) are answered
with the next ``MaxItems`` (at most 50) entries and a ``NextMarker``, each
page a call with its own latency, so every client pays the pages it would
pay on AWS.

    proxy = LatencyProxy("http://127.0.0.1:5000", latency=0.03)
    proxy.start(); ...; proxy.url; ...; proxy.stop()
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_LIST_FUNCTIONS = ("/2015-03-31/functions", "/2015-03-31/functions/")
LAMBDA_PAGE = 50  # ListFunctions' largest page on AWS

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te"}
)


class LatencyProxy:
    """``url`` forwards to ``upstream`` after ``latency`` seconds per request;
    ``calls`` counts the requests it forwarded."""

    def __init__(self, upstream: str, latency: float) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream_host = parsed.hostname or "127.0.0.1"
        self.upstream_port = parsed.port or 80
        self.latency = latency
        self.calls = 0
        self._lock = threading.Lock()
        self._local = threading.local()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                time.sleep(proxy.latency)
                with proxy._lock:
                    proxy.calls += 1
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                if self.command == "GET" and self.path.split("?")[0] in _LIST_FUNCTIONS:
                    status, reason, out_headers, data = proxy._list_page(self.path, headers)
                else:
                    status, reason, out_headers, data = proxy._send(
                        self.command, self.path, body, headers
                    )
                self.send_response(status, reason)
                for key, value in out_headers:
                    if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _forward

        self._listings: dict[str, list[Any]] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _send(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        """One request upstream on this thread's kept-alive connection
        (reconnecting once when the server closed it)."""
        for attempt in (1, 2):
            conn = getattr(self._local, "conn", None)
            if conn is None:
                conn = http.client.HTTPConnection(
                    self.upstream_host, self.upstream_port, timeout=300
                )
                self._local.conn = conn
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                return response.status, response.reason, response.getheaders(), data
            except (http.client.HTTPException, ConnectionError, OSError):
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _list_page(
        self, path: str, headers: dict[str, str]
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        """One AWS-sized page of a ``ListFunctions`` listing (see above)."""
        parts = urllib.parse.urlsplit(path)
        query = urllib.parse.parse_qs(parts.query)
        marker = (query.pop("Marker", None) or [""])[0]
        size = min(int((query.pop("MaxItems", None) or [LAMBDA_PAGE])[0]), LAMBDA_PAGE)
        key = urllib.parse.urlencode(sorted((k, v[0]) for k, v in query.items()))
        if not marker:
            upstream = parts.path + (f"?{key}" if key else "")
            status, reason, out_headers, data = self._send("GET", upstream, None, headers)
            if status != 200:
                return status, reason, out_headers, data
            with self._lock:
                self._listings[key] = list(json.loads(data).get("Functions") or [])
        with self._lock:
            entries = self._listings.get(key, [])
        start = int(marker or 0)
        page: dict[str, Any] = {"Functions": entries[start : start + size]}
        if start + size < len(entries):
            page["NextMarker"] = str(start + size)
        return 200, "OK", [("Content-Type", "application/json")], json.dumps(page).encode()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LatencyProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
