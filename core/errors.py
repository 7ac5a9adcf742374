"""Errors that reach users as a form message or an HTTP 4xx with a JSON body, never as a stack trace."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError, SQLAlchemyError


class UserInputError(Exception):
    """Input a user can correct; the message names the field ("Field: problem")."""


def database_error_message(exc: BaseException) -> str:
    """What a user may be told about a failed write: the constraint that refused it, no SQL, no trace."""
    cause = exc if isinstance(exc, SQLAlchemyError) else exc.__cause__
    if isinstance(cause, IntegrityError):
        detail = str(getattr(cause, "orig", cause)).strip().splitlines()
        return str(_l("Not saved: %(detail)s", detail=detail[0] if detail else "integrity error"))
    return str(_l("Not saved: the database refused the change."))
