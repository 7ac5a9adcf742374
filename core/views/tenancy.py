"""Screens and APIs for regions and franchises, and who is assigned to them."""

from flask_babel import lazy_gettext as _l

from core.tenancy import Franchise, Region, ScopedInterface
from core.views.base import ScopedModelRestApi, ScopedModelView


class RegionView(ScopedModelView):
    datamodel = ScopedInterface(Region)
    list_columns = ["code", "name", "active"]
    show_columns = ["code", "name", "active", "managers"]
    add_columns = edit_columns = ["code", "name", "active", "managers"]
    search_columns = ["code", "name", "active"]
    label_columns = {"code": _l("Code"), "name": _l("Name"), "active": _l("Active"), "managers": _l("Region managers")}


class FranchiseView(ScopedModelView):
    datamodel = ScopedInterface(Franchise)
    list_columns = ["code", "name", "region", "active"]
    show_columns = ["code", "name", "region", "active", "users"]
    add_columns = ["code", "name", "region", "active", "users"]
    edit_columns = ["name", "active", "users"]
    search_columns = ["code", "name", "active"]
    label_columns = {"code": _l("Code"), "name": _l("Name"), "region": _l("Region"), "active": _l("Active"),
                     "users": _l("Assigned users")}


class RegionApi(ScopedModelRestApi):
    resource_name = "region"
    datamodel = ScopedInterface(Region)
    list_columns = ["id", "code", "name", "active"]
    show_columns = list_columns
    add_columns = edit_columns = ["code", "name", "active"]


class FranchiseApi(ScopedModelRestApi):
    resource_name = "franchise"
    datamodel = ScopedInterface(Franchise)
    list_columns = ["id", "code", "name", "region.id", "region.name", "active"]
    show_columns = list_columns
    add_columns = ["code", "name", "region", "active"]
    edit_columns = ["name", "active"]
    search_columns = ["code", "name", "active", "region"]
