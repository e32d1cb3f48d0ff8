"""One member's REST API over a unix socket or pinned HTTPS: the only code that speaks HTTP.

Every HTTPS connection is checked before any request is sent: a pre-flight TLS handshake fetches
the certificate the server presents, its SHA-256 fingerprint must be one of the member's pins, and
the connection pool then uses an SSL context whose only trust anchor is that exact certificate
(hostname not checked, as ``lxc`` treats a remote). Any other certificate fails the handshake.
When lxdplan already holds a pinned certificate for the endpoint (``known_certificate``), the
pool trusts it directly and its own handshake is the check: no pre-flight is needed, and a
server presenting another certificate is checked again the pre-flight way.
"""

from __future__ import annotations

import os
import socket
import ssl
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit


def _import_httpx_lean():
    """Import httpx and httpcore without two optional extras lxdplan never uses (~90 ms of a
    plan's start): httpx's command-line tool (click, rich, pygments; httpx falls back to a stub
    ``httpx.main``) and trio (httpcore's async backend; it falls back to ``trio = None``). The
    block lasts only for this import: a later ``import trio`` elsewhere works as usual."""
    blocked = [name for name in ("httpx._main", "trio") if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]  # makes that import fail fast
    try:
        import httpcore  # noqa: F401  (httpx imports it lazily, on the first client)
        import httpx
    finally:
        for name in blocked:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]
    return httpx


if TYPE_CHECKING:
    import httpx
else:
    httpx = _import_httpx_lean()

from lxdplan.errors import (  # noqa: E402
    AnswerError,
    ApiError,
    ConnectError,
    LxdplanError,
    PreconditionFailed,
    TrustError,
)
from lxdplan.livedata import segment  # noqa: E402
from lxdplan.providers import (  # noqa: E402
    httplog,
    shapes,
)
from lxdplan.providers import pins as pinstore  # noqa: E402
from lxdplan.providers.certs import (  # noqa: E402
    ClientCert,
    fingerprint,
    load_chain,
    load_client_cert,
    normalize_fingerprint,
)

CONNECT_TIMEOUT = 5.0
# A member refuses changes with "Server isn't ready yet" for a moment after it (re)starts, before
# it did anything (seen on Incus 6.0.4 right after a restart): the change is asked again.
NOT_READY = "isn't ready yet"
NOT_READY_WAIT = 30.0
NOT_READY_PAUSE = 1.0
# Changes (POST/PUT/PATCH/DELETE) may legitimately take long: instantiating a bridge, a join.
READ_TIMEOUT = 60.0
# Reads of state are sized for what LXD answers. A member's own ``GET /1.0`` answers in
# milliseconds: a member that accepts the connection and says nothing for PROBE_TIMEOUT does
# not serve (a member restarted on a newer version waits like this for the others). Listings
# answer in well under 1-2 s even on a loaded machine; a forwarded read of a member that does
# not serve fails on the server after 10 s.
# Once a member has answered its ``GET /1.0`` it serves: its other reads get SERVING_TIMEOUT,
# a bound against a hang only, as a listing of a large cluster legitimately takes long: LXD 5.0.2
# computes every volume's ``used_by`` from every profile, and one pool's volume listing took
# 143 s at 500 objects (100 volumes, 343 profiles) on this 2-core machine.
PROBE_TIMEOUT = 5.0
STATE_TIMEOUT = 12.0
SERVING_TIMEOUT = 600.0
GET_ATTEMPTS = 3  # only for errors that come at once (a refused or reset connection)
OPERATION_WAIT = 30  # seconds per /wait request; the wait repeats until ``operation_timeout``
RUNNING = 103
# Every request has a total deadline besides its per-read timeout (a server trickling a byte
# every 0.1 s never trips a 0.5 s read timeout): the request's read timeout, counted from the
# moment it is sent to the last byte of the answer. An answer is streamed and refused beyond
# MAX_ANSWER bytes (the largest listing LXD sends for thousands of objects is a few MB).
MAX_ANSWER = 64 * 1024 * 1024
# An upload (an image file) may take long, but never a pause longer than this in sending it or
# in waiting for the answer once it is sent.
UPLOAD_STALL = READ_TIMEOUT
# How long an operation wait keeps asking again after the connection to the member is lost
# (with backoff) before it says the result is unknown; and the longest pause between two waits
# of an operation a server reports Running at once (a server that ignores ``timeout``).
WAIT_GRACE = 10.0
WAIT_BACKOFF_MAX = 5.0
OPERATION_TIMEOUT_ENV = "LXDPLAN_OPERATION_TIMEOUT"  # seconds an operation may run (600)


def default_operation_timeout() -> float:
    raw = os.environ.get(OPERATION_TIMEOUT_ENV, "")
    try:
        return float(raw) if raw.strip() else 600.0
    except ValueError:
        raise LxdplanError(f"{OPERATION_TIMEOUT_ENV}={raw!r} is not a number of seconds") from None


@dataclass
class Response:
    """A successful answer. For an awaited async request ``metadata`` is the finished operation
    (``id``, ``status_code``, ``metadata``, ``resources``…) and ``operation`` its path."""

    status: int
    metadata: Any
    etag: str | None = None
    type: str = "sync"
    operation: str | None = None
    location: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def probe_certificate(endpoint: str, timeout: float = CONNECT_TIMEOUT) -> str:
    """The PEM certificate an HTTPS endpoint presents (no verification: for pinning only)."""
    parts = urlsplit(endpoint)
    host, port = parts.hostname, parts.port or 8443
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, port), timeout=timeout) as sock:
        with ctx.wrap_socket(sock) as tls:
            der = tls.getpeercert(binary_form=True)
    assert der is not None  # a TLS server always presents a certificate
    return ssl.DER_cert_to_PEM_cert(der)


# LXD's words when its cluster database is too busy to start a transaction in time (seen on
# LXD 5.0.2 at 500 objects on 2 cores: "Failed to begin transaction: context deadline exceeded"):
# a read that got this is asked again.
_BUSY = ("Failed to begin transaction", "database is locked")


def not_ready(exc: ApiError) -> bool:
    """Whether the member refused the request as not ready yet (it did nothing)."""
    return NOT_READY in str(exc).lower()


_T = TypeVar("_T")


def asked_again_while_not_ready(attempt: Callable[[], _T], wait: float | None = None) -> _T:
    """``attempt()``, and again while the member refuses it as not ready yet (a member restarted
    moments ago, or one it forwards to), for ``wait`` (default ``NOT_READY_WAIT``) seconds at
    most."""
    give_up = time.monotonic() + (NOT_READY_WAIT if wait is None else wait)
    while True:
        try:
            return attempt()
        except ApiError as exc:
            if not not_ready(exc) or time.monotonic() >= give_up:
                raise
        time.sleep(NOT_READY_PAUSE)


def busy(exc: ApiError) -> bool:
    return any(words in str(exc) for words in _BUSY)


class NoAnswer(ConnectError):
    """The member accepted the connection and sent no answer within the read timeout: its
    daemon holds requests (it waits, e.g. for the other members to be upgraded). Never retried."""


def short(fp: str) -> str:
    return f"{fp[:12]}…" if fp else "(none)"


class Client:
    """REST client for one member. ``member`` names it in every error sentence.

    ``pin`` is the member's declared fingerprint; ``extra_pins`` more accepted fingerprints; the
    pin store (``known.json``), under the cluster's ``scope`` (``pins.scope_of``), adds the
    certificate the user accepted for this endpoint and the cluster certificate; without a
    ``scope`` the store adds nothing.
    ``pin_file`` is the desired-state file to name when a pin is wrong. ``cert`` defaults to the
    stored client certificate (none for unix sockets).
    """

    def __init__(
        self,
        endpoint: str,
        *,
        member: str | None,
        pin: str | None = None,
        extra_pins: Iterable[str] = (),
        certificates: Iterable[str] = (),
        pin_file: str | None = None,
        cert: ClientCert | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
        operation_timeout: float | None = None,
        use_store: bool = True,
        scope: str | None = None,
    ):
        self.endpoint = endpoint.rstrip("/")
        self.member = member
        self.pin = normalize_fingerprint(pin) if pin else None
        self.extra_pins = [normalize_fingerprint(p) for p in extra_pins if p]
        self.certificates = [pem for pem in certificates if pem]  # PEMs held for the pins
        self._known_http: Any = None  # the httpx client trusting a held certificate, if any
        self._handshake_first = False  # a held certificate failed: check with a pre-flight
        self.pin_file = pin_file or "lxdplan.yaml"
        self.cert = cert
        self.use_store = use_store
        self.scope = scope
        self.operation_timeout = (default_operation_timeout() if operation_timeout is None
                                  else operation_timeout)
        self.timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        self.serving = False  # its own GET /1.0 answered (see STATE_TIMEOUT)
        self.connect_timeout = connect_timeout
        self.server_certificate: str | None = None  # PEM presented, once verified (HTTPS only)
        self.server_fingerprint: str | None = None
        self.presents_certificate = False  # whether the open HTTPS connection shows a client cert
        self.label = "LXD"
        self._http: httpx.Client | None = None
        self._lock = threading.Lock()
        parts = urlsplit(self.endpoint)
        self.scheme = parts.scheme
        if self.scheme == "unix":
            self.socket_path = parts.path or parts.netloc
        elif self.scheme != "https":
            raise ConnectError(
                f"member {self.who} has endpoint {endpoint}, which is neither https:// nor unix://",
                member=member,
            )

    # -- connection -------------------------------------------------------------------------------

    @property
    def who(self) -> str:
        return self.member or self.endpoint

    def pins(self) -> list[str]:
        """Fingerprints this member may present, in order of authority."""
        return self._pins(self._stored())

    def _stored(self) -> list[pinstore.Pinned]:
        """The pin store's certificates for this endpoint in this cluster (one read of
        ``known.json``)."""
        if self.use_store and self.scope and self.scheme == "https":
            return pinstore.scope(self.scope).for_endpoint(self.endpoint)
        return []

    def _pins(self, stored: list[pinstore.Pinned]) -> list[str]:
        found = [self.pin] if self.pin else []
        found.extend(normalize_fingerprint(p.fingerprint) for p in stored)
        found.extend(self.extra_pins)
        return list(dict.fromkeys(found))

    def _connect(self) -> httpx.Client:
        if self._http is not None:
            return self._http
        with self._lock:
            if self._http is None:
                self._http = self._open()
            return self._http

    def _open(self) -> httpx.Client:
        if self.scheme == "unix":
            # No TLS on a unix socket: verify=False only skips loading the system CA bundle
            # (20-90 ms per client). HTTPS below always verifies against the pinned certificate.
            transport = httpx.HTTPTransport(uds=self.socket_path, retries=0, verify=False)
            return httpx.Client(transport=transport, base_url="http://lxd", timeout=self.timeout)
        pem = None if self._handshake_first else self.known_certificate()
        known = pem is not None
        if pem is not None:  # already checked against the pins; the handshake checks the server
            self.server_certificate, self.server_fingerprint = pem, fingerprint(pem)
        else:
            try:
                pem = probe_certificate(self.endpoint, self.connect_timeout)
            except (OSError, ssl.SSLError) as exc:
                raise self._connect_error(exc) from None
            self.verify_certificate(pem)
        ctx = ssl.create_default_context(cadata=pem)
        ctx.check_hostname = False  # the pinned certificate itself is the only anchor
        cert = self.cert or load_client_cert()
        if cert is not None:
            load_chain(ctx, cert)
        self.presents_certificate = cert is not None
        transport = httpx.HTTPTransport(verify=ctx, retries=0)
        http = httpx.Client(transport=transport, base_url=self.endpoint, timeout=self.timeout)
        self._known_http = http if known else None
        return http

    def known_certificate(self) -> str | None:
        """A certificate already held for this endpoint whose fingerprint is pinned (the pin
        store keeps the cluster certificate lxdplan read over a verified connection; a remote
        of the lxc/incus client configuration gives its ``servercerts`` file): trusting it as
        the only anchor makes the connection's own handshake the check, so no pre-flight
        handshake is needed. None when there is none."""
        stored = self._stored()
        candidates = list(self.certificates) + [p.certificate for p in stored if p.certificate]
        allowed = self._pins(stored)
        return next((pem for pem in candidates if fingerprint(pem) in allowed), None)

    def verify_certificate(self, pem: str) -> None:
        """Accept ``pem`` only if its fingerprint is pinned; raise ``TrustError`` otherwise."""
        fp = fingerprint(pem)
        allowed = self.pins()
        if fp not in allowed:
            if allowed:
                raise TrustError(
                    f"member {self.who} ({self.endpoint}) presented certificate {short(fp)}, "
                    f"expected {short(allowed[0])}: if the member was reinstalled, update its "
                    f"fingerprint in {self.pin_file}"
                )
            raise TrustError(
                f"member {self.who} ({self.endpoint}) presented certificate {short(fp)}, which is "
                f"not pinned: declare its fingerprint in {self.pin_file} or accept it with "
                f"`lxdplan auth trust -f {self.pin_file}`"
            )
        self.server_certificate = pem
        self.server_fingerprint = fp

    def adopt_cluster_certificate(self) -> str:
        """Call right after bootstrap (or join): the member now serves the cluster certificate.

        Reads ``environment.certificate`` over the connection that is still open and verified
        (keep-alive on the old pin, or the unix socket), pins it as the cluster certificate of
        this client's ``scope``, and reconnects trusting it. Returns the cluster certificate (PEM).
        """
        try:
            meta = self.get("/1.0").metadata or {}
        except ConnectError:
            raise TrustError(
                f"member {self.who} ({self.endpoint}) changed its certificate when it became a "
                f"cluster member and the verified connection was lost before lxdplan could read "
                f"the new one: accept it with `lxdplan auth trust -f {self.pin_file}`"
            ) from None
        pem = (meta.get("environment") or {}).get("certificate") or ""
        if not pem:
            raise TrustError(f"member {self.who} ({self.endpoint}) did not report its certificate")
        if self.scope:  # read over the verified connection: this cluster's certificate
            pinstore.remember_cluster(self.scope, pem)
        self.extra_pins.append(fingerprint(pem))
        if self.scheme == "https":
            self.close()  # the next request verifies the new certificate against the new pin
        return pem

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect_error(self, exc: BaseException) -> ConnectError:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        # Connected, then the connection failed (a server dropping requests under load): the
        # member is up, so the read is no evidence that an object is missing there.
        return ConnectError(
            f"cannot reach member {self.who} at {self.endpoint}: {reason}", member=self.member,
            mid_request=isinstance(exc, (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)),
        )

    # -- requests ---------------------------------------------------------------------------------

    def get(self, path: str, params: dict[str, Any] | None = None, *,
            timeout: float | None = None, not_ready_wait: float | None = None) -> Response:
        """A read of state, bounded by ``timeout`` (default: PROBE_TIMEOUT for ``/1.0``, else
        SERVING_TIMEOUT once the member answered its ``/1.0``, else STATE_TIMEOUT). Retried
        (bounded) on errors that come at once; a timeout, which already waited long enough, is
        not retried, and a read timeout raises ``NoAnswer``. Refused as not ready yet (a member
        restarted moments ago, or one it forwards to), it is asked again as a change is
        (``send``: ``not_ready_wait``, default ``NOT_READY_WAIT``, seconds at most)."""
        return asked_again_while_not_ready(lambda: self._get(path, params, timeout), not_ready_wait)

    def _get(self, path: str, params: dict[str, Any] | None, timeout: float | None) -> Response:
        """One ``get``, retried only on errors that come at once and a busy database."""
        if timeout is None:
            timeout = PROBE_TIMEOUT if path == "/1.0" else (
                SERVING_TIMEOUT if self.serving else STATE_TIMEOUT)
        limit = httpx.Timeout(timeout, connect=self.connect_timeout)
        last: BaseException | None = None
        for attempt in range(GET_ATTEMPTS):
            try:
                raw = self._request("GET", path, params=_params(params), timeout=limit)
            except ConnectError as exc:  # the pre-flight handshake failed
                last = exc
                if "timed out" in str(exc):
                    break
            except (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout):
                raise NoAnswer(
                    f"member {self.who} ({self.endpoint}) accepted the connection but answered "
                    f"nothing to GET {path} within {timeout:g} s", member=self.member,
                ) from None
            except (httpx.TransportError, OSError) as exc:
                last = exc
                if isinstance(exc, (httpx.ConnectTimeout, socket.timeout)) or "[Errno 2]" in str(exc):
                    break  # a timeout already waited long enough; a missing socket stays missing
            else:
                try:
                    response = self._answer("GET", path, raw, params)
                except ApiError as exc:
                    if not busy(exc) or attempt + 1 == GET_ATTEMPTS:
                        raise
                    last = exc  # the server's database is busy: ask again, as for a reset
                    time.sleep(0.5 * (attempt + 1))
                    continue
                if path == "/1.0" and not params:
                    self.serving = True
                if path == "/1.0" and isinstance(response.metadata, dict):
                    env = response.metadata.get("environment") or {}
                    if env.get("server"):
                        self.label = "Incus" if env["server"] == "incus" else "LXD"
                return response
            if attempt + 1 < GET_ATTEMPTS:
                time.sleep(0.2 * (attempt + 1))
        if isinstance(last, (ConnectError, ApiError)):
            raise last
        assert last is not None  # the loop ran at least once
        raise self._connect_error(last) from None

    def _request(self, method: str, path: str, **options: Any) -> httpx.Response:
        """One HTTP request, logged by ``httplog`` when debug logging is on (``--debug``).

        A connection trusting a certificate already held (``known_certificate``) whose handshake
        fails verification (the member now presents another one) is opened again the checked
        way: a pre-flight handshake, then the pins decide, with the usual one-sentence error.
        Nothing was sent on the failed connection."""
        http = self._connect()
        try:
            return httplog.logged(self.who, method, path, options.get("params"),
                                  lambda: self._exchange(http, method, path, options))
        except RuntimeError:
            # Closed by another thread (``Session.reconnect`` while the lock's lease renewal
            # sends) between taking the connection and sending on it: nothing was sent; open a
            # new one. A closed connection this client still holds is a real error.
            if http is self._http or not http.is_closed:
                raise
        except httpx.ConnectError as exc:
            if http is not self._known_http or "CERTIFICATE_VERIFY_FAILED" not in str(exc):
                raise
            with self._lock:
                if self._http is http:  # the first thread to see it; the others just reconnect
                    self._handshake_first, self._http = True, None  # left open for their reads
        http = self._connect()
        return httplog.logged(self.who, method, path, options.get("params"),
                              lambda: self._exchange(http, method, path, options))

    def _exchange(self, http: Any, method: str, path: str, options: dict[str, Any]) -> Any:
        """Send one request and read its answer as a stream, within the request's total deadline
        (its read timeout, from now to the last byte) and ``MAX_ANSWER`` bytes: a trickling or
        endless answer is cut off with ``AnswerError``, never held whole in memory."""
        limit = httpx.Timeout(options.get("timeout") or self.timeout).read
        request = http.build_request(method, path, **options)
        started = time.monotonic()
        raw = http.send(request, stream=True)
        if options.get("content") is not None or options.get("files") is not None:
            started = time.monotonic()  # an upload's deadline counts from its answer
        deadline = None if limit is None else started + limit
        try:
            chunks, size = [], 0
            for chunk in raw.iter_bytes():
                size += len(chunk)
                if size > MAX_ANSWER:
                    raise AnswerError(
                        f"member {self.who} answered {method} {path} with more than "
                        f"{MAX_ANSWER // (1024 * 1024)} MiB, more than any answer LXD sends: "
                        f"refused", member=self.member)
                if deadline is not None and time.monotonic() > deadline:
                    raise AnswerError(
                        f"member {self.who} did not finish answering {method} {path} within "
                        f"{limit:g} s (its answer trickled in)", member=self.member)
                chunks.append(chunk)
        finally:
            raw.close()
        headers = [(k, v) for k, v in raw.headers.multi_items()
                   if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")]
        return httpx.Response(raw.status_code, headers=headers, content=b"".join(chunks),
                              request=request, extensions={"reason_phrase": raw.reason_phrase.encode()})

    def post(self, path: str, json: Any = None, params=None, etag: str | None = None, *, wait=True):
        return self.send("POST", path, json, params, etag, wait=wait)

    def put(self, path: str, json: Any = None, params=None, etag: str | None = None, *, wait=True):
        return self.send("PUT", path, json, params, etag, wait=wait)

    def patch(self, path: str, json: Any = None, params=None, etag: str | None = None, *, wait=True):
        return self.send("PATCH", path, json, params, etag, wait=wait)

    def delete(self, path: str, json: Any = None, params=None, etag: str | None = None, *, wait=True):
        return self.send("DELETE", path, json, params, etag, wait=wait)

    def send(
        self,
        method: str,
        path: str,
        json: Any = None,
        params: dict[str, Any] | None = None,
        etag: str | None = None,
        *,
        wait: bool = True,
    ) -> Response:
        """A change: sent once, and again only while the member refuses it as not ready yet (it
        did nothing: a member restarted moments ago, for ``NOT_READY_WAIT`` seconds at most); an
        async answer is awaited when ``wait``. An *operation* that fails so is not sent again:
        Incus 6.0.4 may have made part of it (an instance create forwarded to a member restarted
        moments before left its record: "UNIQUE constraint failed" when sent again); its step
        waits for the members' links and runs again from its re-read (``providers.links``)."""
        headers = {"If-Match": etag} if etag else {}

        def attempt() -> Response:
            try:
                raw = self._request(method, path, json=json, params=_params(params), headers=headers)
            except (httpx.TransportError, OSError) as exc:
                raise self._connect_error(exc) from None
            return self._answer(method, path, raw)

        response = asked_again_while_not_ready(attempt)
        if response.type == "async" and wait and response.operation:
            return self.wait_operation(response.operation, method=method, path=path)
        return response

    def upload(self, path: str, *, content=None, files=None, params=None,
               headers: dict[str, str] | None = None) -> Response:
        """A ``POST`` of a file body, streamed from the open file object(s) (``content``: one
        body; ``files``: multipart parts), never read whole into memory; waited for like any
        change and never retried. A large image takes what it takes, but the upload fails when
        sending stalls, or the answer does not come, for ``UPLOAD_STALL`` seconds."""
        stall = httpx.Timeout(UPLOAD_STALL, connect=self.connect_timeout)
        try:
            raw = self._request("POST", path, content=content, files=files, params=_params(params),
                                headers=headers or {}, timeout=stall)
        except (httpx.ReadTimeout, httpx.WriteTimeout) as exc:
            doing = "took no more of" if isinstance(exc, httpx.WriteTimeout) else "answered nothing to"
            raise ConnectError(
                f"member {self.who} {doing} the upload POST {path} for {UPLOAD_STALL:g} s: its "
                f"result is unknown; run apply again", member=self.member, mid_request=True,
            ) from None
        except (httpx.TransportError, OSError) as exc:
            raise self._connect_error(exc) from None
        response = self._answer("POST", path, raw)
        if response.type == "async" and response.operation:
            return self.wait_operation(response.operation, method="POST", path=path)
        return response

    def wait_operation(self, operation: str, *, method: str = "", path: str = "") -> Response:
        """Wait for an operation to finish; raise ``ApiError`` if it failed or was cancelled.

        Each ``/wait`` asks the server to hold the answer up to ``OPERATION_WAIT`` seconds; a
        server that says Running at once is asked again after a growing pause (backoff). A lost
        connection is asked again, with backoff, for ``WAIT_GRACE`` seconds, then the result is
        unknown: one sentence naming the operation. An operation still running after
        ``operation_timeout`` is cancelled (``DELETE``), and the sentence says whether it was."""
        try:
            op_url = urlsplit(operation_path(operation))
        except ValueError as exc:
            raise ApiError(f"{self.who}: {f'{method} {path}'.strip() or 'an operation'}: {exc}",
                           member=self.member) from None
        op_path = op_url.path
        query = dict(parse_qsl(op_url.query))
        deadline = time.monotonic() + self.operation_timeout
        what = f"{method} {path}".strip() or op_path
        pause, lost_since = 0.0, None
        while True:
            asked = time.monotonic()
            wait = max(1, min(OPERATION_WAIT, int(deadline - asked) + 1))
            try:
                # ``_get``: a failed operation's "not ready yet" is its result, not a refusal
                # of the read, and asking again would answer the same.
                answer = self._get(f"{op_path}/wait", {**query, "timeout": wait},
                                   wait + READ_TIMEOUT / 4)
            except ApiError as exc:
                if exc.status == 404:
                    raise ApiError(
                        f"{self.who}: the result of {what} is unknown: its operation vanished "
                        f"({getattr(exc, 'lxd_message', exc)})", member=self.member, status=404,
                    ) from None
                # Newer servers answer a failed operation's wait with an error envelope.
                said = str(getattr(exc, "lxd_message", exc))
                failed = ApiError(f"{self.who}: {self.label} refused {what}: {said}",
                                  member=self.member, status=exc.status)
                failed.lxd_message = said
                raise failed from None
            except ConnectError as exc:
                lost_since = lost_since or asked
                if time.monotonic() - lost_since >= min(WAIT_GRACE, self.operation_timeout):
                    raise ConnectError(
                        f"member {self.who}: the connection was lost while waiting for {what} "
                        f"(operation {op_path}) and did not come back within {WAIT_GRACE:g} s "
                        f"({exc}); its result is unknown: run apply again once the member is "
                        f"reachable", member=self.member, mid_request=True,
                    ) from None
                pause = _backoff(pause)
                time.sleep(pause)
                continue
            lost_since = None
            op = answer.metadata or {}
            code = op.get("status_code")
            if code == RUNNING or op.get("status") == "Running":
                if time.monotonic() > deadline:
                    raise ApiError(self._abandon(op_path, query, what), member=self.member)
                if time.monotonic() - asked < wait / 2:  # answered at once: do not spin
                    pause = _backoff(pause)
                    time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
                continue
            if code != 200:
                err = op.get("err") or op.get("status") or f"status code {code}"
                failed = ApiError(
                    f"{self.who}: {self.label} refused {what}: {err}", member=self.member, status=code
                )
                failed.lxd_message = str(err)  # LXD's own words, for callers that rephrase
                raise failed
            return Response(200, op, type="async", operation=op_path, headers=answer.headers)

    def _abandon(self, op_path: str, query: dict[str, str], what: str) -> str:
        """The sentence for an operation still running at ``operation_timeout``, after asking
        the member to cancel it (LXD cancels only operations that may be cancelled)."""
        try:
            self.send("DELETE", op_path, params=query or None, wait=False)
            fate = "it was cancelled"
        except LxdplanError as exc:
            fate = (f"it could not be cancelled ({getattr(exc, 'lxd_message', exc)}): "
                    f"`{'incus' if self.label == 'Incus' else 'lxc'} operation show "
                    f"{op_path.rsplit('/', 1)[-1]}` says how it ends")
        return (f"{self.who}: {what} did not finish within {self.operation_timeout:g} s "
                f"(operation {op_path}); {fate}; run apply again (it reads the cluster first)")

    def _answer(self, method: str, path: str, raw: httpx.Response,
                params: dict[str, Any] | None = None) -> Response:
        """The answer as LXD's envelope, its shape checked (``shapes``) before anyone parses it:
        anything else is ``AnswerError`` naming the member, the method and the path."""
        if raw.status_code == 412:
            raise PreconditionFailed(
                f"{self.who}: {method} {path} was refused because the object changed since it was "
                f"read (ETag mismatch): plan again", member=self.member, status=412,
            )
        body = self._envelope(method, path, raw)
        if body.get("type") == "error" or raw.status_code >= 400:
            message = body.get("error") or raw.reason_phrase or f"HTTP {raw.status_code}"
            err = ApiError(
                f"{self.who}: {self.label} refused {method} {path}: {message}",
                member=self.member, status=body.get("error_code") or raw.status_code,
            )
            err.lxd_message = message  # LXD's own words, for callers that rephrase
            raise err
        if method == "GET":
            try:
                shapes.check_metadata(path, params, body.get("metadata"))
            except shapes.Malformed as exc:
                raise self._malformed(method, path, str(exc)) from None
        return Response(
            status=raw.status_code,
            metadata=body.get("metadata"),
            etag=raw.headers.get("ETag"),
            type=body.get("type", "sync"),
            operation=body.get("operation") or None,
            location=raw.headers.get("Location"),
            headers=dict(raw.headers),
        )

    def _envelope(self, method: str, path: str, raw: httpx.Response) -> dict[str, Any]:
        """The JSON envelope of an answer, or ``AnswerError`` (HTML from a proxy, a cut-off
        body, an envelope of the wrong shape)."""
        try:
            body = raw.json()
        except ValueError:  # not JSON at all, or cut off
            kind = raw.headers.get("Content-Type", "").split(";")[0] or "no content type"
            if not raw.content:
                text = f"an empty body, not {self.label}'s JSON"
            elif kind.endswith("json"):
                text = f"{len(raw.content)} bytes of invalid JSON (cut off or corrupt)"
            else:
                text = f"{len(raw.content)} bytes of {kind}, not {self.label}'s JSON"
            raise self._malformed(method, path, f"HTTP {raw.status_code} with {text}") from None
        try:
            shapes.check_envelope(body)
            if body.get("type") == "error" and not isinstance(body.get("error", ""), str):
                raise shapes.Malformed("error", "is not a string")
        except shapes.Malformed as exc:
            raise self._malformed(method, path, str(exc)) from None
        return body

    def _malformed(self, method: str, path: str, problem: str) -> AnswerError:
        return AnswerError(f"member {self.who} answered {method} {path} with a malformed answer: "
                           f"{problem}", member=self.member)


def _backoff(pause: float) -> float:
    """The next pause between two asks: 0.2 s, doubling, at most ``WAIT_BACKOFF_MAX``."""
    return min(WAIT_BACKOFF_MAX, max(0.2, pause * 2))


def path_of(*segments: str) -> str:
    """``path_of("storage-pools", name)`` -> ``/1.0/storage-pools/<quoted name>``."""
    return "/1.0/" + "/".join(segment(s) for s in segments)


def operation_path(operation: str) -> str:
    """``/1.0/operations/<id>`` (with its query) for an operation a server named: the URL of an
    async answer or a bare id from a listing. The id is one quoted segment, so a name such as
    ``../instances/x`` cannot reach another path; anything but one id is a ``ValueError``."""
    parts = urlsplit(str(operation))
    prefix = "/1.0/operations/"
    path = unquote(parts.path)
    op_id = path[len(prefix):] if path.startswith(prefix) else path
    if not op_id or "/" in op_id or op_id in (".", ".."):
        raise ValueError(f"the server named operation {str(operation)[:200]!r}, which is not "
                         f"one operation under {prefix}")
    return prefix + segment(op_id) + (f"?{parts.query}" if parts.query else "")


def _params(params: dict[str, Any] | None) -> dict[str, Any] | None:
    if not params:
        return None
    return {k: v for k, v in params.items() if v is not None}
