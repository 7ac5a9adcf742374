"""/api/v1/tiering/tag-rules/: the tag rules for integrations and scripts. Lists what the caller sees (HQ's
rules included), creates and updates with the same checks as the screen: a refusal is 400 (not a JSON object)
or 422, each as {"message", "errors": {field: message}}, and the stored rule stays as it was."""

from __future__ import annotations

from flask import request
from flask_appbuilder.api import BaseApi, expose, protect, safe
from sqlalchemy import select

from core.extensions import db
from core.tenancy import current_user_obj, may_write, scope_criterion
from plugins.tiering import conditions_form as builder
from plugins.tiering.fields import catalogue, describe
from plugins.tiering.models import TagRule
from plugins.tiering.tagrules.rules import save_rule, tagged_counts
from plugins.tiering.tagrules.views import visible_rule

LIST_LIMIT = 200


def rule_json(rule: TagRule, tagged: int | None = None, fields=None) -> dict:
    fields = fields if fields is not None else catalogue(rule.franchise_id)
    return {"id": rule.id, "franchise_id": rule.franchise_id, "tag": rule.tag, "description": rule.description,
            "active": rule.active, "conditions": rule.conditions or [],
            "conditions_text": [describe(c, fields) for c in rule.conditions or []], "tagged": tagged,
            "updated_at": rule.updated_at.isoformat(timespec="seconds") + "Z" if rule.updated_at else None}


class TagRuleApi(BaseApi):
    resource_name = "tiering_tag_rules"
    route_base = "/api/v1/tiering/tag-rules"
    openapi_spec_tag = "Tag rules"
    plugin = "tiering"
    method_permission_name = {"list": "get", "create": "post", "update": "put"}

    def _refuse(self, status: int, errors: dict):
        message = "; ".join(f"{field}: {text}" if not str(text).startswith(f"{field}:") else str(text)
                            for field, text in errors.items())
        return self.response(status, message=message, errors={k: str(v) for k, v in errors.items()})

    @staticmethod
    def _body():
        body = request.get_json(silent=True) if request.is_json else None
        return body if isinstance(body, dict) else None

    @expose("/", methods=["GET"])
    @protect()
    @safe
    def list(self):
        """The tag rules the caller sees, by id, keyset-paginated: pass `after` = the last id of the page
        ---
        get:
          parameters:
          - {in: query, name: after, schema: {type: integer}}
          responses: {200: {description: a page of rules with how many customers each tags now}}
        """
        after = request.args.get("after", 0, type=int) or 0
        query = select(TagRule).where(TagRule.id > after).order_by(TagRule.id).limit(LIST_LIMIT)
        condition = scope_criterion(TagRule)
        rules = db.session.scalars(query if condition is None else query.where(condition)).all()
        counts = tagged_counts([rule.id for rule in rules])
        catalogues: dict = {}
        result = []
        for rule in rules:
            if rule.franchise_id not in catalogues:
                catalogues[rule.franchise_id] = catalogue(rule.franchise_id)
            result.append(rule_json(rule, counts.get(rule.id, 0), catalogues[rule.franchise_id]))
        return self.response(200, result=result, next_after=rules[-1].id if len(rules) == LIST_LIMIT else None)

    @expose("/", methods=["POST"])
    @protect()
    @safe
    def create(self):
        """Add a tag rule (franchise_id null or left out: HQ's for HQ, else the caller's one franchise)
        ---
        post:
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  required: [tag, conditions]
                  properties:
                    franchise_id: {type: integer, nullable: true}
                    tag: {type: string, maxLength: 32}
                    description: {type: string}
                    active: {type: boolean}
                    conditions:
                      type: array
                      items: {type: object, properties: {field: {type: string}, op: {type: string}, value: {}}}
          responses:
            201: {description: created}
            400: {description: not a JSON object}
            422: {description: what is wrong, per field}
        """
        body = self._body()
        if body is None:
            return self._refuse(400, {"body": "Request body must be a JSON object"})
        try:
            franchise_id = builder.read_franchise(body.get("franchise_id"), TagRule)
        except builder.FranchiseChoiceError as exc:
            return self._refuse(422, {"franchise_id": str(exc)})
        rule, errors = save_rule(None, franchise_id, body, getattr(current_user_obj(), "id", None))
        if errors:
            db.session.rollback()
            return self._refuse(422, errors)
        answer = rule_json(rule)
        db.session.commit()
        return self.response(201, id=answer["id"], result=answer)

    @expose("/<int:pk>", methods=["PUT"])
    @protect()
    @safe
    def update(self, pk):
        """Change a tag rule: the fields left out keep their value; a rule stays in its franchise
        ---
        put:
          parameters: [{in: path, name: pk, required: true, schema: {type: integer}}]
          requestBody:
            required: true
            content: {application/json: {schema: {type: object}}}
          responses:
            200: {description: saved}
            400: {description: not a JSON object}
            403: {description: HQ's rule, read-only to a franchise}
            404: {description: not found}
            422: {description: what is wrong, per field}
        """
        rule = visible_rule(pk)
        if rule is None:
            return self.response_404()
        if not may_write(TagRule, rule.franchise_id):
            return self._refuse(403, {"franchise_id": "HQ's rules are read-only here: add a rule of your own"})
        body = self._body()
        if body is None:
            return self._refuse(400, {"body": "Request body must be a JSON object"})
        if "franchise_id" in body and body["franchise_id"] != rule.franchise_id:
            return self._refuse(422, {"franchise_id": "a rule stays in its franchise"})
        values = {"tag": rule.tag, "description": rule.description, "active": rule.active,
                  "conditions": rule.conditions, **body}
        saved, errors = save_rule(rule, rule.franchise_id, values, getattr(current_user_obj(), "id", None))
        if errors:
            db.session.rollback()
            return self._refuse(422, errors)
        answer = rule_json(saved)
        db.session.commit()
        return self.response(200, result=answer)
