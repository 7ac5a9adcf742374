"""Per-request costs of Flask-AppBuilder that list screens and APIs should not pay.

FAB's `@rison` decorator calls `jsonschema.validate(args, schema)`, which checks the schema itself against
the JSON Schema metaschema on every request: about 7 ms of a 20 ms list request (measured by
bench/list_latency.py). The schemas never change, so each is checked once and its validator kept.
"""

from __future__ import annotations

import types

import jsonschema

_validators: dict[int, tuple[dict, object]] = {}


def validate_with_cached_validator(instance, schema, *args, **kwargs):
    entry = _validators.get(id(schema))
    if entry is None or entry[0] is not schema:
        validator_class = jsonschema.validators.validator_for(schema)
        validator_class.check_schema(schema)
        entry = _validators[id(schema)] = (schema, validator_class(schema))
    error = jsonschema.exceptions.best_match(entry[1].iter_errors(instance))
    if error is not None:
        raise error


def install() -> None:
    """FAB's api module looks `jsonschema.validate` up at call time; give it the cached one."""
    import flask_appbuilder.api as fab_api

    if getattr(fab_api.jsonschema, "validate", None) is not validate_with_cached_validator:
        fab_api.jsonschema = types.SimpleNamespace(validate=validate_with_cached_validator,
                                                   ValidationError=jsonschema.ValidationError)
