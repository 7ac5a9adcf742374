"""Outbound HTTP for webhooks and the message gateway: one POST, a timeout, no redirects, no private targets.

Server-side request forgery: a franchise admin chooses the URL, and the request leaves from inside the
network. Unless `CRM_WEBHOOK_ALLOW_PRIVATE` is true (tests, a lab), a URL whose host resolves to a loopback,
private, link-local (cloud metadata), reserved or multicast address is refused, and redirects are not
followed (a public URL could otherwise bounce to an internal one). The host is resolved again by the
request itself, so a DNS answer that changes between the check and the request (rebinding) is not covered:
an egress firewall is the complete answer, this is the application's part.
"""

from __future__ import annotations

import ipaddress
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import lazy_gettext as _l

EXCERPT_CHARS = 500
USER_AGENT = "courier-crm-webhooks/1"


class TargetRefused(Exception):
    """The URL may not be called (scheme or address policy); retrying will not help."""


@dataclass
class PostResult:
    status: int | None  # HTTP status, None when no answer came
    excerpt: str  # start of the answer's body
    error: str | None  # network error or refusal, None when an answer came
    duration_ms: float
    refused: bool = False  # the address policy refused the URL: trying again will not help

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def url_problem(url: str | None) -> str | None:
    """Why `url` cannot receive our requests (checked when a URL is saved), or None."""
    if not url or not url.strip():
        return str(_l("required"))
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        return str(_l("only http:// and https:// addresses can be called"))
    if not parts.hostname:
        return str(_l("the address has no host name"))
    if parts.username or parts.password:
        return str(_l("put credentials in the secret, not in the address"))
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return None  # a name: its addresses are checked at every send, they may change
    if not private_allowed() and _is_internal(literal):
        return str(_l("private and loopback addresses are not allowed"))
    return None


def private_allowed() -> bool:
    return bool(current_app.config.get("CRM_WEBHOOK_ALLOW_PRIVATE", False))


def timeout_seconds() -> float:
    return float(current_app.config.get("CRM_WEBHOOK_TIMEOUT", 10))


def _is_internal(address) -> bool:
    if getattr(address, "ipv4_mapped", None):
        address = address.ipv4_mapped
    return (address.is_private or address.is_loopback or address.is_link_local or address.is_reserved
            or address.is_multicast or address.is_unspecified)


def check_target(url: str) -> None:
    """Raise TargetRefused if `url` is not http(s) or its host resolves to an internal address."""
    problem = url_problem(url)
    if problem:
        raise TargetRefused(problem)
    if private_allowed():
        return
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror:
        return  # let the request fail on it as a network error: DNS trouble passes, a retry may succeed
    for info in infos:
        if _is_internal(ipaddress.ip_address(info[4][0].split("%")[0])):
            raise TargetRefused(str(_l("%(host)s resolves to an internal address", host=parts.hostname)))


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # the 3xx comes back as the answer and counts as a failure


# No proxies from the environment: the address check must be about the host we actually connect to.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects)


def post(url: str, body: bytes, headers: dict[str, str]) -> PostResult:
    """POST `body` to `url`; never raises for network trouble (it comes back in `error`)."""
    started = time.perf_counter()

    def elapsed():
        return round((time.perf_counter() - started) * 1000, 1)

    try:
        check_target(url)
    except TargetRefused as exc:
        return PostResult(None, "", f"refused: {exc}", elapsed(), refused=True)
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT, **headers})
    try:
        with _OPENER.open(request, timeout=timeout_seconds()) as response:
            return PostResult(response.status, _excerpt(response), None, elapsed())
    except urllib.error.HTTPError as exc:  # an answer, just not a 2xx
        return PostResult(exc.code, _excerpt(exc), None, elapsed())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return PostResult(None, "", f"{type(exc).__name__}: {reason}"[:500], elapsed())


def _excerpt(response) -> str:
    try:
        raw = response.read(EXCERPT_CHARS * 4)
    except OSError:
        return ""
    return raw.decode("utf-8", errors="replace")[:EXCERPT_CHARS]
