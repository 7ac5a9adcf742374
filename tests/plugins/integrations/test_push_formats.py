"""The push formats without a database: form decoding, provider code mapping, signatures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
from urllib.parse import parse_qsl, quote, quote_plus, urlencode

import pytest

from core.models.statuses import STATUSES
from plugins.integrations.inbound import codes
from plugins.integrations.inbound.pushes import PushRejected, decode_form
from plugins.integrations.signing import hmac_signature, kdniao_sign, kuaidi100_sign, platform_sign, same

ALPHABET = "abcXYZ019 _-.~!*'()=&%+/?#[]@,;:$\"{}\\\n\t快递签收【】：，。😀"


@pytest.mark.parametrize("seed", range(200))
def test_form_decoding_reads_what_the_standard_library_reads(seed):
    rng = random.Random(seed)
    fields = {"".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 8))):
              "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 60))) for _ in range(rng.randint(1, 4))}
    body = urlencode(fields, quote_via=rng.choice([quote, quote_plus]))
    if rng.random() < 0.5:
        body = body.replace("%2F", "%2f").replace("%E5", "%e5")  # lower-case escapes are valid too
    assert decode_form(body.encode()) == dict(parse_qsl(body, keep_blank_values=True))


def test_malformed_escapes_are_read_as_the_standard_library_reads_them():
    for body in ("param=100%25%zz", "param=%", "param=a%2", "param=%E5%BF%AB%", "a=b=c&d="):
        assert decode_form(body.encode()) == dict(parse_qsl(body, keep_blank_values=True))


def test_a_body_that_is_not_a_form_or_not_utf8_is_refused():
    with pytest.raises(PushRejected) as refused:
        decode_form(b"just text")
    assert refused.value.status == 400 and refused.value.code == "bad_form"
    with pytest.raises(PushRejected) as refused:
        decode_form(b"param=%FF%FE")
    assert refused.value.code == "bad_encoding"


def test_provider_codes_map_onto_the_canonical_statuses():
    assert codes.kuaidi100_status("501") == "HELD_AT_STATION"
    assert codes.kuaidi100_status("", "签收") == "DELIVERED"
    assert codes.kuaidi100_status("209") == "DAMAGED"
    assert codes.kuaidi100_status("999") is None
    assert codes.kdniao_status("412") == "LOCKER_OVERDUE"
    assert codes.kdniao_status("404") == "REFUSED"
    assert set(codes.KUAIDI100.values()) | set(codes.KDNIAO.values()) <= set(STATUSES)


def test_signatures_follow_the_providers_recipes():
    assert kuaidi100_sign(b"param", "salt") == hashlib.md5(b"paramsalt").hexdigest().upper()
    assert kdniao_sign(b"data", "key") == base64.b64encode(hashlib.md5(b"datakey").hexdigest().encode()).decode()
    assert hmac_signature("s", 17, b"{}") == "sha256=" + hmac.new(b"s", b"17.{}", hashlib.sha256).hexdigest()
    assert platform_sign("S", {"b": "2", "a": "1"}) == hashlib.md5(b"Sa1b2S").hexdigest().upper()
    assert same("ABCDEF", "abcdef") and not same("QUJD", "qujd", ignore_case=False) and not same("a", None)
