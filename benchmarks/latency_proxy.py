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

AWS serves each account from the same endpoint without one account's load
slowing another's; one moto server is one Python process, whose lock every
request shares. Given several upstream servers, the proxy keeps each account
on one of them: an ``AssumeRole`` into account A goes to the server
``account_server(A)`` names, the credentials it hands out are remembered,
and every request signed with them goes to that server; any other request
(the caller's own credentials) goes to the first.

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
_ASSUME_ROLE = re.compile(r"(?:^|&)Action=AssumeRole(?:&|$)")
_ROLE_ACCOUNT = re.compile(r"(?:^|&)RoleArn=arn%3A[^%&]+%3Aiam%3A%3A(\d{12})%3A")
_ACCESS_KEY = re.compile(rb"<AccessKeyId>([^<]+)</AccessKeyId>")
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
        upstream: str | list[str],
        latency: float,
        *,
        lambda_rate: float = 0.0,
        lambda_burst: float | None = None,
        account_server: Any = None,
    ) -> None:
        upstreams = [upstream] if isinstance(upstream, str) else list(upstream)
        self.upstreams = [
            (parts.hostname or "127.0.0.1", parts.port or 80)
            for parts in map(urllib.parse.urlsplit, upstreams)
        ]
        # the server of an account (index into upstreams), for AssumeRole
        self.account_server = account_server or (lambda account: 0)
        self._key_server: dict[str, int] = {}
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
                server = proxy._server_of(headers.get("Authorization", ""), body)
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
                    status, reason, out_headers, data = proxy._list_page(self.path, headers, server)
                else:
                    status, reason, out_headers, data = proxy._send(
                        self.command, self.path, body, headers, server
                    )
                    proxy._remember(body, data, server)
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

    def _server_of(self, authorization: str, body: bytes | None) -> int:
        """The upstream a request goes to (see the module)."""
        if len(self.upstreams) == 1:
            return 0
        text = (body or b"").decode("latin-1")
        if _ASSUME_ROLE.search(text):
            account = _ROLE_ACCOUNT.search(text)
            return int(self.account_server(account.group(1))) if account else 0
        scope = _SCOPE.search(authorization or "")
        with self._lock:
            return self._key_server.get(scope.group(1), 0) if scope else 0

    def _remember(self, body: bytes | None, data: bytes, server: int) -> None:
        """After an AssumeRole: its credentials' requests go where it went."""
        if len(self.upstreams) > 1 and _ASSUME_ROLE.search((body or b"").decode("latin-1")):
            key = _ACCESS_KEY.search(data)
            if key:
                with self._lock:
                    self._key_server[key.group(1).decode()] = server

    def _send(
        self,
        method: str,
        path: str,
        body: bytes | None,
        headers: dict[str, str],
        server: int = 0,
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        """One request upstream on this thread's kept-alive connection to
        ``server`` (reconnecting once when the server closed it)."""
        conns = getattr(self._local, "conns", None)
        if conns is None:
            conns = self._local.conns = {}
        for attempt in (1, 2):
            conn = conns.get(server)
            if conn is None:
                host, port = self.upstreams[server]
                conn = conns[server] = http.client.HTTPConnection(host, port, timeout=300)
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                return response.status, response.reason, response.getheaders(), data
            except (http.client.HTTPException, ConnectionError, OSError):
                conn.close()
                conns.pop(server, None)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _list_page(
        self, path: str, headers: dict[str, str], server: int = 0
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        """One AWS-sized page of a ``ListFunctions`` listing (see above),
        kept per credential and Region: two accounts listing at once never
        see each other's pages."""
        parts = urllib.parse.urlsplit(path)
        query = urllib.parse.parse_qs(parts.query)
        marker = (query.pop("Marker", None) or [""])[0]
        size = min(int((query.pop("MaxItems", None) or [LAMBDA_PAGE])[0]), LAMBDA_PAGE)
        params = urllib.parse.urlencode(sorted((k, v[0]) for k, v in query.items()))
        scope = _SCOPE.search(headers.get("Authorization", ""))
        who = f"{scope.group(1)}/{scope.group(2)}" if scope else ""
        key = f"{server}|{who}|{params}"
        if not marker:
            upstream = parts.path + (f"?{params}" if params else "")
            status, reason, out_headers, data = self._send("GET", upstream, None, headers, server)
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
