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

Lambda's control plane is held to 15 requests a second per account and
Region, across all its APIs but invocation, ``GetFunction`` and
``GetPolicy`` ("15 requests per second across all APIs (not 15 requests per
second per API). Cannot be increased.", Lambda quotas). With
``lambda_rate`` set, the proxy keeps that quota as a token bucket per
signing credential and Region (the benchmark signs each account's calls with
a credential of its own), holding ``lambda_burst`` requests, and answers a
request beyond it as Lambda does: 429 ``TooManyRequestsException``, "Rate
exceeded". A moto server has no quota at all, and without one a client that
sends its Lambda reads back to back looks faster than AWS would let it be.

    proxy = LatencyProxy("http://127.0.0.1:5000", latency=0.03, lambda_rate=15)
    proxy.start(); ...; proxy.url; ...; proxy.throttled; proxy.stop()
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_LIST_FUNCTIONS = ("/2015-03-31/functions", "/2015-03-31/functions/")
LAMBDA_PAGE = 50  # ListFunctions' largest page on AWS

# the credential scope of a SigV4 Authorization header: key id, date, Region, service
_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
# the Lambda calls outside the shared control-plane quota: Invoke (and its
# async form), GetFunction (100 a second of its own), GetPolicy (15 of its own)
_OWN_QUOTA = (
    ("POST", re.compile(r"^/2015-03-31/functions/[^/]+/invocations$")),
    ("POST", re.compile(r"^/2014-11-13/functions/[^/]+/invoke-async/?$")),
    ("GET", re.compile(r"^/2015-03-31/functions/[^/]+$")),
    ("GET", re.compile(r"^/2015-03-31/functions/[^/]+/policy$")),
)
_THROTTLED = json.dumps(
    {"Reason": "CallerRateLimitExceeded", "Type": "User", "message": "Rate exceeded"}
).encode()

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te"}
)


class _Bucket:
    """A token bucket: ``rate`` tokens a second, at most ``burst`` held."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.at = burst, now

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


def lambda_quota_key(method: str, path: str, authorization: str) -> tuple[str, str] | None:
    """The (credential, Region) whose Lambda control-plane quota a request
    draws on, or ``None`` when it draws on none (another service, or a
    Lambda call with a quota of its own)."""
    scope = _SCOPE.search(authorization or "")
    if scope is None or scope.group(3) != "lambda":
        return None
    route = urllib.parse.unquote(path.split("?", 1)[0])
    if any(method == m and p.match(route) for m, p in _OWN_QUOTA):
        return None
    return scope.group(1), scope.group(2)


class LatencyProxy:
    """``url`` forwards to ``upstream`` after ``latency`` seconds per request;
    ``calls`` counts the requests it answered, ``throttled`` those it refused
    for Lambda's quota (``lambda_rate`` requests a second, 0: no quota)."""

    def __init__(
        self,
        upstream: str,
        latency: float,
        *,
        lambda_rate: float = 0.0,
        lambda_burst: float | None = None,
    ) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream_host = parsed.hostname or "127.0.0.1"
        self.upstream_port = parsed.port or 80
        self.latency = latency
        self.lambda_rate = lambda_rate
        self.lambda_burst = lambda_burst if lambda_burst is not None else lambda_rate
        self.calls = 0
        self.quota_calls = 0  # requests that drew on Lambda's quota (throttled ones too)
        self.throttled = 0
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # the status line, headers and body leave in one segment: with
            # Nagle's algorithm on, the body would wait for the client's
            # delayed ACK of the headers (about 40 ms a call, no endpoint's)
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                time.sleep(proxy.latency)
                with proxy._lock:
                    proxy.calls += 1
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                if not proxy._admitted(self.command, self.path, headers):
                    status, reason, out_headers, data = (
                        429,
                        "Too Many Requests",
                        [
                            ("Content-Type", "application/json"),
                            ("x-amzn-ErrorType", "TooManyRequestsException"),
                        ],
                        _THROTTLED,
                    )
                elif self.command == "GET" and self.path.split("?")[0] in _LIST_FUNCTIONS:
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

    def _admitted(self, method: str, path: str, headers: dict[str, str]) -> bool:
        """Whether Lambda's quota lets this request through (always, for a
        request that draws on none or with no quota set)."""
        key = lambda_quota_key(method, path, headers.get("Authorization", ""))
        if key is None:
            return True
        now = time.monotonic()
        with self._lock:
            self.quota_calls += 1
            if self.lambda_rate <= 0:
                return True
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(self.lambda_rate, self.lambda_burst, now)
            if bucket.take(now):
                return True
            self.throttled += 1
            return False

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
