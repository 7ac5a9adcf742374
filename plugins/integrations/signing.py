"""Signatures of the partners' formats, computed and checked on raw bytes with constant-time compares.

Inbound pushes and outbound webhooks of our own format share one scheme: HMAC-SHA256 over
`<unix timestamp>.<raw body>`, sent as `X-CRM-Timestamp` and `X-CRM-Signature: sha256=<hex>`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-CRM-Timestamp"
SIGNATURE_HEADER = "X-CRM-Signature"
REPLAY_WINDOW_SECONDS = 300


def hmac_signature(secret: str, timestamp: int | str, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    timestamp = int(time.time() if now is None else now)
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: hmac_signature(secret, timestamp, body)}


def same(expected: str, given: str | None, ignore_case: bool = True) -> bool:
    """Constant-time compare of two signatures (hex compares case-insensitively, base64 must not)."""
    if not given:
        return False
    expected, given = expected.strip(), given.strip()
    if ignore_case:
        expected, given = expected.lower(), given.lower()
    return hmac.compare_digest(expected.encode(), given.encode())


def kuaidi100_sign(param: bytes, salt: str) -> str:
    """Kuaidi100 push: upper(md5(param + salt)) over the form field's raw value."""
    return hashlib.md5(param + salt.encode()).hexdigest().upper()


def kdniao_sign(request_data: bytes, app_key: str) -> str:
    """Kdniao push: base64(md5(RequestData + AppKey)), md5 as lowercase hex text."""
    digest = hashlib.md5(request_data + app_key.encode()).hexdigest()
    return base64.b64encode(digest.encode()).decode()


def platform_sign(secret: str, params: dict[str, str]) -> str:
    """Taobao TOP / Pinduoduo / JD JOS: upper(md5(secret + k1v1k2v2... (sorted by key) + secret))."""
    joined = "".join(f"{key}{params[key]}" for key in sorted(params))
    return hashlib.md5((secret + joined + secret).encode()).hexdigest().upper()
