"""Screens and APIs for regions and franchises, and who is assigned to them."""

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from core.errors import UserInputError
from core.extensions import db

from core.tenancy import Franchise, Region, ScopedInterface, current_scope
from core.views.base import ScopedModelRestApi, ScopedModelView


class RegionView(ScopedModelView):
    datamodel = ScopedInterface(Region)
    entity_label, entity_label_plural = _l("Region"), _l("Regions")
    list_columns = show_columns = ["code", "name", "active"]
    add_columns = edit_columns = ["code", "name", "active", "managers"]
    search_columns = ["code", "name", "active"]
    label_columns = {"code": _l("Code"), "name": _l("Name"), "active": _l("Active"), "managers": _l("Region managers")}


class FranchiseView(ScopedModelView):
    datamodel = ScopedInterface(Franchise)
    entity_label, entity_label_plural = _l("Franchise"), _l("Franchises")
    list_columns = ["code", "name", "region", "active"]
    show_columns = ["code", "name", "region", "active", "users"]
    # users are assigned in Tenancy → Users, where franchise IT sees only its own people
    add_columns = ["code", "name", "region", "active"]
    edit_columns = ["name", "region", "active"]
    search_columns = ["code", "name", "active"]
    label_columns = {"code": _l("Code"), "name": _l("Name"), "region": _l("Region"), "active": _l("Active"),
                     "users": _l("Assigned users")}

    def pre_update(self, item):
        # moving a franchise changes what region managers see: HQ's decision
        state = db.inspect(item)
        moved = state.attrs.region_id.history.has_changes() or state.attrs.region.history.has_changes()
        if moved and not current_scope().all:
            raise UserInputError(_("Region: only HQ can move a franchise to another region."))
        super().pre_update(item)


class RegionApi(ScopedModelRestApi):
    resource_name = "region"
    datamodel = ScopedInterface(Region)
    list_columns = ["id", "code", "name", "active"]
    show_columns = list_columns
    add_columns = edit_columns = ["code", "name", "active"]


class FranchiseApi(ScopedModelRestApi):
    resource_name = "franchise"
    datamodel = ScopedInterface(Franchise)
    list_columns = ["id", "code", "name", "region.id", "region.name", "active", "custom"]
    show_columns = list_columns
    add_columns = ["code", "name", "region", "active", "custom"]
    edit_columns = ["name", "active", "custom"]
    search_columns = ["code", "name", "active", "region"]
