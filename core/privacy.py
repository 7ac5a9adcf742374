"""Personal data: encryption at rest, blind indexes for exact search, masking, audited unmask.

Phones, ID numbers and address details are stored AES-GCM encrypted (`<name>_enc`), with a keyed hash
(`<name>_hash`, HMAC-SHA256 "blind index") beside the searchable ones, so a full phone number is found and
duplicates are detected without decrypting the table. Both keys are derived from `CRM_ENCRYPTION_KEY`,
which lives in the environment (or the instance folder of the embedded default), never in the database.

Models declare a personal value with `PersonalValue("phone", kind="phone")`: reading it decrypts, writing
it validates, normalises, encrypts and hashes. Screens, exports and API responses show `mask(...)` of it;
plaintext leaves the model only through `unmask()`, which writes who, when, which record, which fields and
why to the audit log.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import re

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import Column, String, Text

from core.errors import UserInputError

UNMASK_PERMISSION = ("can_unmask", "PersonalData")
_TOKEN_PREFIX = "g1:"  # key generation 1; a rotated key gets a new prefix and old rows stay readable


class PersonalDataError(UserInputError):
    def __init__(self, field: str, message):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.problem = message


# --- keys and ciphers -------------------------------------------------------------------------------


class Vault:
    """Encrypts and hashes with keys derived from one secret (any string, e.g. a Fernet key)."""

    def __init__(self, secret: str):
        if not secret:
            raise RuntimeError("CRM_ENCRYPTION_KEY is not set")
        self._aead = AESGCM(_derive(secret, b"crm personal data encryption"))
        self._index_key = _derive(secret, b"crm personal data blind index")

    def encrypt(self, plaintext: str | None) -> str | None:
        if plaintext is None or plaintext == "":
            return None
        return self.seal(plaintext.encode())

    def decrypt(self, token: str | None) -> str | None:
        if not token:
            return None
        return self.unseal(token).decode()

    def seal(self, data: bytes) -> str:
        """Encrypt bytes into a text token (what `encrypt` does for text)."""
        nonce = os.urandom(12)
        return _TOKEN_PREFIX + base64.b64encode(nonce + self._aead.encrypt(nonce, data, None)).decode()

    def unseal(self, token: str) -> bytes:
        if not token.startswith(_TOKEN_PREFIX):
            raise ValueError("unknown encryption key generation")
        raw = base64.b64decode(token[len(_TOKEN_PREFIX):])
        return self._aead.decrypt(raw[:12], raw[12:], None)

    def blind_index(self, kind: str, normalised: str | None) -> str | None:
        """A keyed hash of a normalised value: equal values give equal hashes, the hash reveals nothing."""
        if not normalised:
            return None
        digest = hmac.new(self._index_key, f"{kind}:{normalised}".encode(), hashlib.sha256).digest()
        return digest[:16].hex()


def _derive(secret: str, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(secret.encode())


@functools.lru_cache(maxsize=4)
def vault_for(secret: str) -> Vault:
    return Vault(secret)


def vault() -> Vault:
    return vault_for(current_app.config["CRM_ENCRYPTION_KEY"])


# --- normalising and validating --------------------------------------------------------------------

_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{2,3}-?\d{7,8}$")
_ID_NUMBER = re.compile(r"^\d{17}[\dX]$")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def normalise_phone(value: str | None, field: str = "phone") -> str | None:
    """A mainland mobile (11 digits) or landline (area code + number); +86, spaces and dashes dropped."""
    if value is None:
        return None
    text = re.sub(r"[\s()（）]", "", str(value))
    if text.endswith(".0"):  # a number typed into a spreadsheet cell as a number
        text = text[:-2]
    if text.startswith("+86"):
        text = text[3:]
    elif text.startswith("0086"):
        text = text[4:]
    if text == "":
        return None
    digits = text.replace("-", "")
    if _MOBILE.match(digits):
        return digits
    if _LANDLINE.match(text) or _LANDLINE.match(digits):
        return digits
    raise PersonalDataError(field, _l("not a valid mobile or landline number"))


def normalise_id_number(value: str | None, field: str = "id_number") -> str | None:
    """An 18-character resident ID number whose check digit is right (GB 11643)."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip().upper()
    if not _ID_NUMBER.match(text):
        raise PersonalDataError(field, _l("an ID number has 17 digits and a check digit"))
    total = sum(int(d) * w for d, w in zip(text[:17], _ID_WEIGHTS))
    if _ID_CHECK[total % 11] != text[17]:
        raise PersonalDataError(field, _l("the ID number's check digit is wrong"))
    return text


def normalise_text(value: str | None, field: str = "detail") -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


NORMALISERS = {"phone": normalise_phone, "id_number": normalise_id_number, "text": normalise_text}


# --- masking ---------------------------------------------------------------------------------------


def mask_phone(phone: str | None) -> str:
    if not phone:
        return ""
    if len(phone) == 11 and phone.startswith("1"):
        return f"{phone[:3]}****{phone[-4:]}"
    return f"{phone[:4]}****{phone[-4:]}" if len(phone) > 8 else "****"


def mask_name(name: str | None) -> str:
    if not name:
        return ""
    return name[0] + "*" * max(len(name) - 1, 1)


def mask_id_number(number: str | None) -> str:
    if not number:
        return ""
    return f"{number[:3]}{'*' * (len(number) - 7)}{number[-4:]}"


def mask_text(text: str | None) -> str:
    return "****" if text else ""


MASKS = {"phone": mask_phone, "id_number": mask_id_number, "text": mask_text, "name": mask_name}


# --- model attributes ------------------------------------------------------------------------------


def encrypted_column(name: str) -> Column:
    return Column(f"{name}_enc", Text, nullable=True)


def blind_index_column(name: str) -> Column:
    return Column(f"{name}_hash", String(32), nullable=True)


class PersonalValue:
    """A personal value of a model: encrypted in `<name>_enc`, hashed in `<name>_hash` when searchable.

    Reading gives the plaintext (for code that needs it: unmask, data-subject export, sending an SMS);
    screens use `masked(item, name)`.
    """

    def __init__(self, kind: str, searchable: bool = False):
        self.kind = kind
        self.searchable = searchable

    def __set_name__(self, owner, name):
        self.name = name
        registry = dict(getattr(owner, "__personal__", {}))
        registry[name] = self
        owner.__personal__ = registry
        # `<name>_masked`: what lists, pages and exports show
        setattr(owner, f"{name}_masked", property(lambda item: MASKS[self.kind](getattr(item, name))))

    def __get__(self, item, owner=None):
        if item is None:
            return self
        cache = item.__dict__.setdefault("_crm_plaintext", {})
        token = getattr(item, f"{self.name}_enc")
        cached = cache.get(self.name)
        if cached is None or cached[0] != token:  # decrypt once per stored value
            cached = cache[self.name] = (token, vault().decrypt(token))
        return cached[1]

    def __set__(self, item, value):
        value = NORMALISERS[self.kind](value, self.name)
        token = vault().encrypt(value)
        setattr(item, f"{self.name}_enc", token)
        item.__dict__.setdefault("_crm_plaintext", {})[self.name] = (token, value)
        if self.searchable:
            setattr(item, f"{self.name}_hash", vault().blind_index(self.kind, value))


def personal_fields(model) -> dict[str, PersonalValue]:
    return dict(getattr(model, "__personal__", {}))


def search_hash(kind: str, value: str) -> str | None:
    """The blind index to look a typed value up by; None when the value cannot be one of `kind`."""
    try:
        normalised = NORMALISERS[kind](value)
    except PersonalDataError:
        return None
    return vault().blind_index(kind, normalised)


def masked(item, name: str, mask_kind: str | None = None) -> str:
    """What screens, exports and API responses show of a personal value."""
    descriptor = personal_fields(type(item)).get(name)
    value = getattr(item, name, None)
    kind = mask_kind or (descriptor.kind if descriptor is not None else "text")
    return MASKS[kind](value)


def may_unmask() -> bool:
    """Whether the current user holds the permission to see personal data in full (each time audited)."""
    return bool(current_app.appbuilder.sm.has_access(*UNMASK_PERMISSION))


def unmask(item, fields: list[str], reason: str) -> dict[str, str | None]:
    """The plaintext of `fields` of `item`, after writing the unmask to the audit log (caller commits).

    The caller has checked the permission; a reason is required because the law asks why data was seen.
    """
    from core.audit import audit_entry
    from core.extensions import db
    from core.tenancy import franchise_column

    reason = (reason or "").strip()
    if len(reason) < 2:
        raise PersonalDataError("reason", _l("say why you need to see this personal data"))
    known = personal_fields(type(item))
    extra = set(getattr(type(item), "__personal_names__", ()))
    unknown = [f for f in fields if f not in known and f not in extra]
    if unknown or not fields:
        raise PersonalDataError("fields", _l("not personal data of this record: %(names)s",
                                              names=", ".join(unknown) or "-"))
    column = franchise_column(type(item))
    db.session.add(audit_entry(
        action="unmask", model=type(item).__name__, record_id=item.id,
        franchise_id=getattr(item, column.key) if column is not None else None,
        changes={"fields": [None, sorted(fields)]}, reason=reason,
    ))
    return {f: getattr(item, f) for f in fields}
