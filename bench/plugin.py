"""The plugin the list benchmark runs against: one franchise-scoped table and three REST APIs on it.

- `BenchParcelApi` (/api/v1/bench_parcel/): ours, `ScopedModelRestApi` + `ScopedInterface`.
- `StockBenchParcelApi` (/api/v1/bench_parcel_stock/): stock Flask-AppBuilder, `ModelRestApi` + `SQLAInterface`.
- `UnscopedBenchParcelApi` (/api/v1/bench_parcel_unscoped/): ours with the scope check taken out (same capped
  count, same view class), the baseline that shows what the scope check alone costs.

Only loaded by the benchmark (CRM_EXTRA_PLUGINS = ["bench.plugin"]); never installed with the app.
"""

from flask_appbuilder import Model, ModelRestApi
from flask_appbuilder.models.sqla.interface import SQLAInterface
from sqlalchemy import Column, DateTime, Float, ForeignKey, Index, Integer, String

from core.hookspecs import hookimpl
from core.tenancy import ScopedInterface
from core.views import ScopedModelRestApi

NAME = "benchparcel"
VERSION = "1.0.0"
LABEL = "Bench parcels"


class BenchParcel(Model):
    __tablename__ = "bench_parcel"
    __table_args__ = (
        # franchise users: their franchise first, then the list order (with or without a status filter)
        Index("ix_bench_parcel_franchise_created", "franchise_id", "created_at"),
        Index("ix_bench_parcel_franchise_status_created", "franchise_id", "status", "created_at"),
        # HQ: every franchise, so the index leads with what HQ filters and sorts on
        Index("ix_bench_parcel_created", "created_at"),
        Index("ix_bench_parcel_status_created", "status", "created_at"),
    )
    id = Column(Integer, primary_key=True)
    franchise_id = Column(Integer, ForeignKey("crm_franchise.id"), nullable=False)
    waybill = Column(String(32), nullable=False)
    status = Column(String(16), nullable=False)
    weight = Column(Float, nullable=False)
    created_at = Column(DateTime, nullable=False)

    def __repr__(self):
        return self.waybill


class UnscopedInterface(ScopedInterface):
    """`ScopedInterface` minus the scope: FAB's own filter methods, our capped count. Baseline only."""

    apply_filters = SQLAInterface.apply_filters
    _get_base_query = SQLAInterface._get_base_query


_COLUMNS = ["id", "franchise_id", "waybill", "status", "weight", "created_at"]


class _Columns:
    """The same columns, order and filters on all three APIs."""

    list_columns = _COLUMNS
    show_columns = _COLUMNS
    order_columns = ["id", "created_at", "status", "weight"]
    search_columns = ["status", "franchise_id", "created_at", "waybill"]


class BenchParcelApi(_Columns, ScopedModelRestApi):
    resource_name = "bench_parcel"
    datamodel = ScopedInterface(BenchParcel)


class StockBenchParcelApi(_Columns, ModelRestApi):
    resource_name = "bench_parcel_stock"
    datamodel = SQLAInterface(BenchParcel)


class UnscopedBenchParcelApi(_Columns, ScopedModelRestApi):
    resource_name = "bench_parcel_unscoped"
    datamodel = UnscopedInterface(BenchParcel)


APIS = (BenchParcelApi, StockBenchParcelApi, UnscopedBenchParcelApi)


@hookimpl
def crm_models():
    return [BenchParcel]


@hookimpl
def crm_views(appbuilder, category):
    for api in APIS:
        appbuilder.add_api(api)


@hookimpl
def crm_permissions():
    # the franchise user of the benchmark reads through all three APIs (HQ "Admin" has every permission)
    return {"Frontline Agent": [("can_get", api.__name__) for api in APIS]}
