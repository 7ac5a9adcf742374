"""ScopedModelView and ScopedModelRestApi: what every list, form and API of core and plugins builds on.

Both take a `ScopedInterface` datamodel (the franchise scope applies to every read and write), add the
custom fields active for the user's franchises to forms, lists, the show page, REST schemas and CSV export,
and follow the admin-configured form layout. Set `plugin = "name"` on a plugin's views (the plugin loader
does it for views a plugin registers) and they disappear where the plugin is inactive.
"""

from __future__ import annotations

import csv
import decimal
import io

from flask import (Response, abort, current_app, flash, g, has_request_context, redirect, request, send_file,
                   stream_with_context)
from flask_appbuilder import ModelRestApi, ModelView
from flask_appbuilder.baseviews import expose
from flask_appbuilder.const import API_RESULT_RES_KEY
from flask_appbuilder.fieldwidgets import Select2Widget
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_appbuilder.urltools import get_filter_args, get_order_args
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError
from sqlalchemy import select
from wtforms import BooleanField, SelectField
from wtforms import validators as wtv

from core.lowcode.fields import CustomValues, check_record_values, definitions_for, form_field, locale, values_schema
from core.lowcode.filters import with_custom_filters
from core.lowcode.layouts import layout_for
from core.errors import UserInputError
from core.extensions import db
from core.lowcode.models import CustomFieldsMixin
from core.spreadsheets import XLSX_MIMETYPE
from core.tenancy import Franchise, ScopeError, check_write_scope, current_scope


class _PerRequest:
    """A view attribute whose value is recomputed per request from the class's base value.

    FAB builds views once at start-up; custom fields and layouts change at run time, so the attributes
    FAB reads per request (columns, fieldsets, labels, forms, schemas) are computed from the base value
    and the definitions active for the current user.
    """

    def __init__(self, compute):
        self.compute = compute

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, view, owner=None):
        if view is None:
            return self
        base = view.__dict__.get(f"_base_{self.name}")
        if not _in_request():
            return base
        return self.compute(view, base)

    def __set__(self, view, value):
        view.__dict__[f"_base_{self.name}"] = value


class PerRequestAttributes:
    """Keeps the per-request attributes working when a subclass declares plain values for them.

    A subclass's `list_columns = [...]` would hide the descriptor; it becomes the base value instead.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name, value in list(cls.__dict__.items()):
            if isinstance(value, _PerRequest):
                continue
            descriptor = _find_descriptor(cls, name)
            if descriptor is not None:
                setattr(cls, f"_declared_{name}", value)
                setattr(cls, name, descriptor)

    def _seed_per_request_bases(self):
        for klass in type(self).__mro__:
            for name, value in vars(klass).items():
                if isinstance(value, _PerRequest) and f"_base_{name}" not in self.__dict__:
                    self.__dict__[f"_base_{name}"] = getattr(type(self), f"_declared_{name}", None)


def _find_descriptor(cls, name):
    for klass in cls.__mro__[1:]:
        value = klass.__dict__.get(name)
        if isinstance(value, _PerRequest):
            return value
    return None


def _in_request():
    return has_request_context() and getattr(g, "user", None) is not None


class CustomFieldsViewMixin:
    """Custom field definitions and form layout of the view's model for the current request."""

    def _model(self):
        return self.datamodel.obj

    def custom_definitions(self):
        if not issubclass(self._model(), CustomFieldsMixin):
            return []
        return definitions_for(self._model())

    def custom_columns(self):
        return [d.column for d in self.custom_definitions()]

    def form_layout(self):
        return layout_for(self._model())


def _with_custom(view, base, form=False):
    base = list(base or [])
    extra = [c for c in view.custom_columns() if c not in base]
    columns = base + extra
    if form:
        layout = view.form_layout()
        if layout is not None:
            # a layout never hides what the form needs: hiding it would make every save fail
            hidden = layout.hidden_fields() - _required_columns(view)
            columns = [c for c in columns if c not in hidden]
    return columns


def _required_columns(view) -> set[str]:
    required = {d.column for d in view.custom_definitions() if d.required}
    datamodel = view.datamodel
    for column in datamodel.get_columns_list():
        if column in ("id", "custom") or datamodel.is_pk(column):
            continue
        try:
            if not datamodel.is_nullable(column) and datamodel.get_col_default(column) is None:
                required.add(column)
        except (KeyError, AttributeError):  # relations and properties FAB cannot judge
            continue
    return required


def _fieldsets(view, base, form: str):
    """The layout's fieldsets for the add or edit form, with the form's fields the layout leaves out last."""
    layout = view.form_layout()
    if layout is None or not layout.parsed_fieldsets():
        return base
    columns = _with_custom(view, view.__dict__.get(f"_base_{form}_columns") or [], form=True)
    fieldsets, placed = [], set()
    for title, names in layout.parsed_fieldsets():
        names = [n for n in names if n in columns and n not in placed]
        placed.update(names)
        if names:
            fieldsets.append((title or _("Details"), {"fields": names}))
    rest = [c for c in columns if c not in placed]
    if rest:
        fieldsets.append((_("Other"), {"fields": rest}))
    return fieldsets


def _labels(view, base):
    labels = dict(base or {})
    loc = locale()
    for definition in view.custom_definitions():
        labels[definition.column] = definition.label(loc)
    return labels


def _descriptions(view, base):
    descriptions = dict(base or {})
    for definition in view.custom_definitions():
        if definition.help:
            descriptions[definition.column] = definition.help
    return descriptions


def _search_columns(view, base):
    return list(base or []) + [c for c in view.custom_columns() if c not in (base or [])]


def _filters_with_custom(view, base):
    # FAB fills a view's Filters per request; a copy per request also keeps concurrent requests apart
    if base is None:
        return base
    cache = g.setdefault("_crm_filters", {})
    if id(view) not in cache:
        cache[id(view)] = with_custom_filters(base, view.datamodel, view.custom_definitions())
    return cache[id(view)]


def _search_form(view, base):
    definitions = view.custom_definitions()
    if not definitions or base is None:
        return base
    return type(base.__name__, (base,), {d.column: form_field(d, for_search=True) for d in definitions})


def _form(view, base):
    definitions = view.custom_definitions()
    if not definitions or base is None:
        return base
    attrs = {d.column: form_field(d) for d in definitions}
    return type(base.__name__, (base,), attrs)


def franchise_options() -> list[tuple[str, str]]:
    """The user's franchises as (id, label), read as plain rows: the filter drop-down of every list page."""
    query = current_scope().restrict(select(Franchise.id, Franchise.name, Franchise.code), Franchise.id)
    return [(str(fid), f"{name} ({code})") for fid, name, code in db.session.execute(query.order_by(Franchise.code))]


def franchise_filter_field():
    # FAB's own field loads every franchise as an ORM object per page: 40% of a list page at 200 franchises
    return SelectField(choices=franchise_options, widget=Select2Widget(), validators=[wtv.Optional()])


def _replace_search_filters(view) -> None:
    """Apply a view's `search_filter_overrides` {column: [filter classes]}: e.g. a phone number is searched
    through its blind index, where FAB's text filters on the hash column would find nothing."""
    overrides = getattr(view, "search_filter_overrides", None) or {}
    filters = view.__dict__.get("_base__filters")
    if not overrides or filters is None:
        return
    for column, classes in overrides.items():
        instances = [cls(column, view.datamodel) for cls in classes]
        if column not in filters.search_columns:
            filters.search_columns.append(column)
        filters._search_filters[column] = instances
        filters._all_filters[column] = instances


def yes_no(value):
    if value is None:
        return ""
    return _("Yes") if value else _("No")


def joined(values):
    return ", ".join(str(v) for v in values or [])


def timestamp(value):
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


def blank_if_none(value):
    return "" if value is None else value


class ScopedModelView(PerRequestAttributes, CustomFieldsViewMixin, ModelView):
    """A ModelView on a ScopedInterface with custom fields, layouts, scoped actions and CSV export.

    `entity_label` / `entity_label_plural` (lazy strings) give translated page titles.
    """

    plugin: str | None = None
    page_size = 25
    entity_label = None
    entity_label_plural = None

    list_columns = _PerRequest(lambda v, b: _with_custom(v, b))
    show_columns = _PerRequest(lambda v, b: _with_custom(v, b))
    add_columns = _PerRequest(lambda v, b: _with_custom(v, b, form=True))
    edit_columns = _PerRequest(lambda v, b: _with_custom(v, b, form=True))
    add_fieldsets = _PerRequest(lambda v, b: _fieldsets(v, b, "add"))
    edit_fieldsets = _PerRequest(lambda v, b: _fieldsets(v, b, "edit"))
    label_columns = _PerRequest(_labels)
    description_columns = _PerRequest(_descriptions)
    add_form = _PerRequest(_form)
    edit_form = _PerRequest(_form)
    search_columns = _PerRequest(_search_columns)
    search_form = _PerRequest(_search_form)
    _filters = _PerRequest(_filters_with_custom)

    def __init__(self, *args, **kwargs):
        self._seed_per_request_bases()
        if "franchise" in (self.__dict__.get("_base_search_columns") or []):
            self.search_form_extra_fields = {"franchise": franchise_filter_field(),
                                             **(self.search_form_extra_fields or {})}
        super().__init__(*args, **kwargs)
        self.formatters_columns = {**self._default_formatters(), **(self.formatters_columns or {})}
        _replace_search_filters(self)

    def _default_formatters(self):
        """Readable values in lists and show pages: yes/no, lists joined, times to the second."""
        formatters = {}
        datamodel = self.datamodel
        for column in datamodel.get_columns_list():
            if datamodel.is_boolean(column):
                formatters[column] = yes_no
            elif datamodel.is_relation_many_to_many(column) or datamodel.is_relation_one_to_many(column):
                formatters[column] = joined
            elif datamodel.is_datetime(column):
                formatters[column] = timestamp
            else:
                formatters[column] = blank_if_none  # FAB would print "None"
        return formatters

    def _init_titles(self):
        if self.entity_label is not None:
            self.list_title = self.list_title or self.entity_label_plural or self.entity_label
            self.show_title = self.show_title or self.entity_label
            self.add_title = self.add_title or _l("Add %(name)s", name=self.entity_label)
            self.edit_title = self.edit_title or _l("Edit %(name)s", name=self.entity_label)
        super()._init_titles()

    def _init_forms(self):
        super()._init_forms()
        # FAB makes a NOT NULL boolean "required", which refuses an unticked box: a no is a valid answer
        for name in ("_base_add_form", "_base_edit_form"):
            form = self.__dict__.get(name)
            for field in vars(form).values() if form is not None else ():
                if getattr(field, "field_class", None) is not None and issubclass(field.field_class, BooleanField):
                    checks = field.kwargs.get("validators") or []
                    field.kwargs["validators"] = [c for c in checks if not isinstance(
                        c, (wtv.InputRequired, wtv.DataRequired))]

    def _add(self):
        # no flush while the form fills the row: checks in pre_add/pre_update read the change history
        with self.datamodel.session.no_autoflush:
            return super()._add()

    def _edit(self, pk):
        with self.datamodel.session.no_autoflush:
            return super()._edit(pk)

    def _get_list_widget(self, *args, page_size=None, **kwargs):
        limit = current_app.config.get("CRM_LIST_MAX_PAGE_SIZE", 100)
        page_size = min(page_size or self.page_size, limit)
        return super()._get_list_widget(*args, page_size=page_size, **kwargs)

    # ScopedInterface enforces the scope on every write; checking here too turns a refusal into the form's
    # message (FAB shows only a generic database error for a failed edit)
    def pre_add(self, item):
        check_write_scope(item)
        self._check_custom_values(item)

    def pre_update(self, item):
        check_write_scope(item)
        self._check_custom_values(item)

    def _check_custom_values(self, item):
        errors = record_errors(item)
        if errors:
            raise UserInputError("; ".join(f"{self._field_label(key)}: {message}" for key, message in errors.items()))

    def _field_label(self, key):
        return str(self.label_columns.get(key, key))

    @expose("/action/<string:name>/<pk>", methods=["GET", "POST"])
    def action(self, name, pk):
        if name not in self.actions or self.datamodel.get(self._deserialize_pk_if_composite(pk)) is None:
            abort(404)  # out of scope rows are absent, not forbidden
        return super().action(name, pk)

    @expose("/action_post", methods=["POST"])
    def action_post(self):
        name = request.form.get("action")
        if name not in self.actions:
            abort(404)
        permission = self.get_action_permission_name(name)
        if not self.appbuilder.sm.has_access(permission, self.class_permission_name):
            return super().action_post()  # FAB answers the refusal in its usual way
        items = [self.datamodel.get(self._deserialize_pk_if_composite(pk)) for pk in request.form.getlist("rowid")]
        items = [item for item in items if item is not None]
        if not items:
            flash(_("No row selected."), "warning")
            return redirect(self.get_redirect())
        return self.actions[name].func(items)

    def _export_rows(self):
        """Labels and the list's rows (the user's filters and order, formatted as the list shows them)."""
        get_filter_args(self._filters)
        order_column, order_direction = get_order_args().get(self.__class__.__name__, ("", ""))
        filters = self._filters.get_joined_filters(self._base_filters)
        columns = self.list_columns
        labels = [str(self.label_columns.get(c, c)) for c in columns]
        formatters = self.formatters_columns
        query = self.datamodel.apply_all(
            self.datamodel.session.query(self.datamodel.obj), filters, order_column, order_direction
        )

        def rows():
            try:
                for item in query.yield_per(1000):
                    values = []
                    for column in columns:
                        value = self.datamodel._get_attr_value(item, column)
                        formatter = formatters.get(column)
                        if formatter is not None and formatter is not blank_if_none:
                            value = formatter(value)
                        values.append(_cell_value(value))
                    yield values
            finally:
                # a streamed download outlives the request's teardown: end the read transaction here
                self.datamodel.session.rollback()

        return labels, rows()

    @expose("/export/csv")
    @has_access
    @permission_name("export")
    def export_csv(self):
        """The list as CSV with the user's filters and order, streamed (UTF-8 with BOM for Excel)."""
        labels, rows = self._export_rows()
        filename = f"{self.datamodel.obj.__tablename__}.csv"

        def lines():
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(labels)
            yield "\ufeff" + buffer.getvalue()
            for values in rows:
                buffer.seek(0)
                buffer.truncate()
                writer.writerow(values)
                yield buffer.getvalue()

        return Response(stream_with_context(lines()), mimetype="text/csv",
                        headers={"Content-Disposition": f"attachment; filename={filename}"})

    @expose("/export/xlsx")
    @has_access
    @permission_name("export")
    def export_xlsx(self):
        """The list as an Excel workbook, same rows as the CSV; written row by row to a temporary file."""
        from core.spreadsheets import write_workbook

        labels, rows = self._export_rows()
        title = str(self.list_title or self.datamodel.obj.__tablename__)
        handle = write_workbook(title, labels, rows)
        return send_file(handle, mimetype=XLSX_MIMETYPE, as_attachment=True,
                         download_name=f"{self.datamodel.obj.__tablename__}.xlsx")


def fill_defaults(item) -> None:
    """Give unset columns of a new row their plain defaults now: checks run before the INSERT would."""
    state = db.inspect(item)
    if state.persistent:
        return
    for column in state.mapper.columns:
        default = column.default
        if default is not None and default.is_scalar and getattr(item, column.key, None) is None:
            setattr(item, column.key, default.arg)


def record_errors(item) -> dict[str, str]:
    """Every problem with a record about to be saved: the model's own checks, then its custom values."""
    fill_defaults(item)
    errors = dict(item.validation_errors()) if hasattr(item, "validation_errors") else {}
    if isinstance(item, CustomFieldsMixin):
        for key, messages in (check_record_values(item) or {}).items():
            errors.setdefault(key, messages[0] if isinstance(messages, list) else str(messages))
    return errors


def _cell_value(value):
    if value is None:
        return ""
    if isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool):
        return value  # numbers stay numbers in Excel
    return joined(value) if isinstance(value, (list, tuple)) else str(value)


# --- REST --------------------------------------------------------------------------------------------


def _schema_with_custom(view, base, partial):
    definitions = view.custom_definitions()
    if base is None or not issubclass(view._model(), CustomFieldsMixin):
        return base
    key = (id(view), id(base))
    cache = g.setdefault("_crm_schemas", {})
    if key not in cache:
        nested = values_schema(view._model(), definitions, partial_required=partial)
        required = any(d.required and d.franchise_id is None for d in definitions) and not partial
        field = CustomValues(nested, required=required, metadata={"definitions": definitions,
                                                                  "description": "custom fields"})
        schema_class = type(base.__class__.__name__, (base.__class__,), {"custom": field})
        schema = schema_class()
        for name, base_field in base.fields.items():  # keep what was adjusted on the base instance
            if name in schema.fields and name != "custom":
                schema.fields[name].required = base_field.required
        cache[key] = schema
    return cache[key]


class ScopedModelRestApi(PerRequestAttributes, CustomFieldsViewMixin, ModelRestApi):
    """A ModelRestApi on a ScopedInterface: scope errors are 422 naming the field, custom values typed."""

    plugin: str | None = None

    list_model_schema = _PerRequest(lambda v, b: _schema_with_custom(v, b, partial=True))
    show_model_schema = _PerRequest(lambda v, b: _schema_with_custom(v, b, partial=True))
    add_model_schema = _PerRequest(lambda v, b: _schema_with_custom(v, b, partial=False))
    edit_model_schema = _PerRequest(lambda v, b: _schema_with_custom(v, b, partial=True))
    search_columns = _PerRequest(_search_columns)
    _filters = _PerRequest(_filters_with_custom)

    def __init__(self, *args, **kwargs):
        self._seed_per_request_bases()
        super().__init__(*args, **kwargs)
        _replace_search_filters(self)

    def _init_model_schemas(self):
        super()._init_model_schemas()
        # the scope fills in the franchise of a user who works in one franchise, or says it is missing
        add_schema = self.__dict__.get("_base_add_model_schema")
        for name in ("franchise", "franchise_id"):
            if add_schema is not None and name in add_schema.fields:
                add_schema.fields[name].required = False

    def _get_field_info(self, field, filter_rel_field, page=None, page_size=None):
        info = super()._get_field_info(field, filter_rel_field, page=page, page_size=page_size)
        if not self.description_columns.get(field.name):
            info["description"] = ""  # FAB translates "", which answers the whole catalog header
        return info

    def _write_errors(self, item):
        try:
            check_write_scope(item)
        except ScopeError as exc:
            return {exc.field: [str(exc)]}
        fill_defaults(item)
        errors = dict(item.validation_errors()) if hasattr(item, "validation_errors") else {}
        if errors:
            return {key: [message] for key, message in errors.items()}
        if isinstance(item, CustomFieldsMixin):
            errors = check_record_values(item)
            if errors:
                return {"custom": errors}
        return None

    def _load_and_save(self, schema, data, save, instance=None):
        """Load a JSON body through `schema`, check scope and custom values, save: the item or a 422."""
        try:
            # no flush while the new row is half built (a relation set by the load would flush it early)
            with self.datamodel.session.no_autoflush:
                item = schema.load(data, instance=instance) if instance is not None else schema.load(data)
                errors = self._write_errors(item)
            if errors:
                raise ValidationError(errors)
            save(item)
        except ValidationError as err:
            self.datamodel.session.rollback()
            return None, self.response_422(message=err.messages)
        except UserInputError as exc:
            self.datamodel.session.rollback()
            field = getattr(exc, "field", None)
            return None, self.response_422(message={field: [str(getattr(exc, "problem", exc))]} if field else str(exc))
        return item, None

    @staticmethod
    def _json_object():
        body = request.get_json(silent=True) if request.is_json else None
        return body if isinstance(body, dict) else None

    def post_headless(self):
        body = self._json_object()
        if body is None:
            return self.response_400(message="Request body must be a JSON object")
        schema = self.add_model_schema

        def save(item):
            self.pre_add(item)
            self.datamodel.add(item)

        item, refusal = self._load_and_save(schema, body, save)
        if refusal is not None:
            return refusal
        self.post_add(item)
        # answer with the record as a read shows it (masked personal data included), not the write schema
        return self.response(201, **{API_RESULT_RES_KEY: self.show_model_schema.dump(item, many=False),
                                     "id": self.datamodel.get_pk_value(item)})

    def put_headless(self, pk):
        item = self.datamodel.get(pk, self._base_filters)
        if not item:
            return self.response_404()
        body = self._json_object()
        if body is None:
            return self.response_400(message="Request body must be a JSON object")
        data = self._merge_update_item(item, body)
        if isinstance(item, CustomFieldsMixin) and isinstance(body.get("custom"), dict):
            data["custom"] = {**(item.custom or {}), **body["custom"]}  # a PUT changes only the keys it names
        schema = self.edit_model_schema

        def save(item):
            self.pre_update(item)
            self.datamodel.edit(item)

        item, refusal = self._load_and_save(schema, data, save, instance=item)
        if refusal is not None:
            return refusal
        self.post_update(item)
        return self.response(200, **{API_RESULT_RES_KEY: self.show_model_schema.dump(item, many=False)})

    def delete_headless(self, pk):
        item = self.datamodel.get(pk, self._base_filters)
        if not item:
            return self.response_404()
        try:
            self.pre_delete(item)
            self.datamodel.delete(item)
        except UserInputError as exc:
            self.datamodel.session.rollback()
            return self.response_422(message=str(exc))
        self.post_delete(item)
        return self.response(200, message="OK")
