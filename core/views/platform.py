"""Platform screens: custom fields, form layouts, audit log, schedules and job runs."""

from flask import flash, redirect
from flask_appbuilder.actions import action
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_appbuilder.fieldwidgets import Select2Widget
from wtforms import SelectField

from sqlalchemy import false, select

from core.audit import AuditLog, describe_action, describe_changes
from core.extensions import db
from core.jobs import JOB_STATUSES, JobOutbox, JobSchedule
from core.lowcode.fields import custom_field_targets, definitions_for, invalidate_cache, validate_definition
from core.lowcode.models import FIELD_TYPES, CustomFieldDefinition, FormLayout
from core.errors import UserInputError
from core.plugins import registry
from core.tenancy import ScopedInterface, assigned_franchise, current_scope, eq_or_null
from core.views.base import ScopedModelRestApi, ScopedModelView


def _entity_choices():
    """Entities admins may add fields to, by their translated name."""
    targets = custom_field_targets()
    return sorted(((name, str(getattr(model, "__crm_label__", name))) for name, model in targets.items()),
                  key=lambda choice: choice[1])


def target_label(entity: str) -> str:
    model = custom_field_targets().get(entity)
    return str(getattr(model, "__crm_label__", entity)) if model is not None else entity


def _type_choices():
    return [(key, str(label)) for key, label in FIELD_TYPES.items()]


class CustomFieldView(ScopedModelView):
    datamodel = ScopedInterface(CustomFieldDefinition)
    list_columns = ["entity", "key", "label_zh", "label_en", "field_type", "required", "order", "active", "franchise"]
    show_columns = ["entity", "key", "label_zh", "label_en", "field_type", "required", "choices", "default", "help",
                    "order", "active", "franchise"]
    add_columns = ["entity", "key", "label_zh", "label_en", "field_type", "required", "choices", "default", "help",
                   "order", "active", "franchise"]
    edit_columns = ["label_zh", "label_en", "required", "choices", "default", "help", "order", "active"]
    search_columns = ["entity", "key", "field_type", "active"]
    label_columns = {
        "entity": _l("Entity"), "key": _l("Key"), "label_zh": _l("Label (Chinese)"), "label_en": _l("Label (English)"),
        "field_type": _l("Type"), "required": _l("Required"), "choices": _l("Choices"), "default": _l("Default"),
        "help": _l("Help"), "order": _l("Order"), "active": _l("Active"), "franchise": _l("Franchise (empty = all)"),
    }
    description_columns = {
        "choices": _l('One choice per line: "value" or "value|中文|English".'),
        "key": _l("Lower-case letters, digits and _; cannot change later."),
    }
    entity_label, entity_label_plural = _l("Custom field"), _l("Custom fields")
    formatters_columns = {"entity": target_label, "field_type": lambda kind: str(FIELD_TYPES.get(kind, kind))}
    add_form_extra_fields = {
        "entity": SelectField(_l("Entity"), choices=_entity_choices, widget=Select2Widget()),
        "field_type": SelectField(_l("Type"), choices=_type_choices, widget=Select2Widget()),
    }

    def _check(self, item):
        errors = validate_definition(item)
        if errors:
            field, message = next(iter(errors.items()))
            raise UserInputError(f"{self.label_columns.get(field, field)}: {message}")

    def pre_add(self, item):
        self._check(item)
        super().pre_add(item)

    def pre_update(self, item):
        self._check(item)
        super().pre_update(item)

    def post_add(self, item):
        invalidate_cache()

    post_update = post_delete = post_add


class FormLayoutView(ScopedModelView):
    datamodel = ScopedInterface(FormLayout)
    entity_label, entity_label_plural = _l("Form layout"), _l("Form layouts")
    formatters_columns = {"entity": target_label}
    list_columns = ["entity", "franchise"]
    add_columns = ["entity", "fieldsets", "hidden", "franchise"]
    edit_columns = ["fieldsets", "hidden"]
    show_columns = ["entity", "fieldsets", "hidden", "franchise"]
    label_columns = {"entity": _l("Entity"), "fieldsets": _l("Fieldsets"), "hidden": _l("Hidden fields"),
                     "franchise": _l("Franchise (empty = all)")}
    description_columns = {
        "fieldsets": _l('One fieldset per line: "Title: field_a, field_b, cf_custom_key". Fields follow this order.'),
        "hidden": _l("Comma separated field names not shown in forms (required fields cannot be hidden)."),
    }
    add_form_extra_fields = {"entity": SelectField(_l("Entity"), choices=_entity_choices, widget=Select2Widget())}

    def _check(self, item):
        model = custom_field_targets().get(item.entity)
        if model is None:
            raise UserInputError(_("Entity: unknown entity."))
        if self._duplicate(item):
            raise UserInputError(_("Entity: a layout for this entity and scope exists already; edit that one."))
        required = {d.column for d in definitions_for(model) if d.required}
        hidden_required = required & item.hidden_fields()
        if hidden_required:
            raise UserInputError(_("Hidden fields: required fields cannot be hidden: %(f)s",
                               f=", ".join(sorted(hidden_required))))

    def _duplicate(self, item) -> bool:
        # (entity, NULL) twice passes the unique constraint: NULLs differ in SQL
        query = select(FormLayout.id).where(FormLayout.entity == item.entity,
                                            eq_or_null(FormLayout.franchise_id, assigned_franchise(item)))
        if item.id is not None:
            query = query.where(FormLayout.id != item.id)
        with db.session.no_autoflush:
            return db.session.scalar(query.limit(1)) is not None

    def pre_add(self, item):
        self._check(item)
        super().pre_add(item)

    def pre_update(self, item):
        self._check(item)
        super().pre_update(item)


class CustomFieldApi(ScopedModelRestApi):
    resource_name = "custom_field"
    datamodel = ScopedInterface(CustomFieldDefinition)
    list_columns = ["id", "entity", "key", "label_zh", "label_en", "field_type", "required", "choices", "default",
                    "help", "order", "active", "franchise.id"]
    show_columns = list_columns
    add_columns = ["entity", "key", "label_zh", "label_en", "field_type", "required", "choices", "default", "help",
                   "order", "active", "franchise"]
    edit_columns = ["label_zh", "label_en", "required", "choices", "default", "help", "order", "active"]

    def _write_errors(self, item):
        errors = {k: [str(v)] for k, v in validate_definition(item).items()}
        return errors or super()._write_errors(item)


class AuditLogView(ScopedModelView):
    """Append-only: no add, edit or delete, not even for HQ."""

    datamodel = ScopedInterface(AuditLog)
    entity_label, entity_label_plural = _l("Audit entry"), _l("Audit log")
    base_permissions = ["can_list", "can_show", "can_export"]
    list_columns = ["at", "username", "action", "model", "record_id", "franchise"]
    show_columns = ["at", "username", "user_id", "action", "model", "record_id", "franchise", "changes", "reason"]
    formatters_columns = {"action": describe_action, "changes": describe_changes}
    search_columns = ["username", "action", "model", "record_id", "at"]
    base_order = ("at", "desc")
    label_columns = {"at": _l("Time"), "username": _l("User"), "action": _l("Action"), "model": _l("Record type"),
                     "record_id": _l("Record"), "franchise": _l("Franchise"), "changes": _l("Changes"),
                     "reason": _l("Reason"), "user_id": _l("User id")}


class ScheduleInterface(ScopedInterface):
    """Schedules belong to no franchise: a franchise admin sees those of plugins active in its franchises."""

    def criterion(self):
        if self.obj is not JobSchedule:
            return super().criterion()
        scope = current_scope()
        if scope.all:
            return None
        plugins = registry()
        visible = [name for name in plugins.plugins if plugins.scope_where_active(name, scope).franchise_ids]
        return JobSchedule.plugin.in_(visible) if visible else false()


class JobScheduleView(ScopedModelView):
    datamodel = ScheduleInterface(JobSchedule)
    entity_label, entity_label_plural = _l("Schedule"), _l("Schedules")
    base_permissions = ["can_list", "can_show", "pause", "resume"]
    list_columns = ["name", "plugin", "cron", "interval", "paused", "next_run_at", "last_run_at", "last_duration",
                    "failures"]
    show_columns = list_columns
    label_columns = {"name": _l("Job"), "plugin": _l("Plugin"), "cron": _l("Cron"), "interval": _l("Every (s)"),
                     "paused": _l("Paused"), "next_run_at": _l("Next run"), "last_run_at": _l("Last run"),
                     "last_duration": _l("Duration (s)"), "failures": _l("Failures")}

    def _set_paused(self, items, paused):
        items = items if isinstance(items, list) else [items]
        for item in items:
            item.paused = paused
        self.datamodel.session.commit()
        flash(_("Paused.") if paused else _("Resumed."), "success")
        return redirect(self.get_redirect())

    @action("pause", _l("Pause"), _l("Pause the selected schedules?"), "fa-pause")
    def pause(self, items):
        return self._set_paused(items, True)

    @action("resume", _l("Resume"), None, "fa-play")
    def resume(self, items):
        return self._set_paused(items, False)


class JobRunView(ScopedModelView):
    datamodel = ScopedInterface(JobOutbox)
    entity_label, entity_label_plural = _l("Job run"), _l("Job runs")
    formatters_columns = {"status": lambda status: str(JOB_STATUSES.get(status, status))}
    base_permissions = ["can_list", "can_show"]
    list_columns = ["id", "func", "queue", "franchise_id", "status", "attempts", "created_at", "finished_at",
                    "duration"]
    show_columns = list_columns + ["args", "kwargs", "relayed_at", "started_at", "last_error"]
    search_columns = ["func", "status", "queue", "created_at"]
    base_order = ("id", "desc")
    label_columns = {"func": _l("Job"), "queue": _l("Queue"), "franchise_id": _l("Franchise"),
                     "status": _l("Status"), "attempts": _l("Attempts"), "created_at": _l("Created"),
                     "finished_at": _l("Finished"), "duration": _l("Duration (s)"), "last_error": _l("Error"),
                     "relayed_at": _l("Relayed"), "started_at": _l("Started"), "args": _l("Arguments"),
                     "kwargs": _l("Options")}
