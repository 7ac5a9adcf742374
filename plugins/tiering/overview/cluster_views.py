"""The "RFM clusters" page: a k-means suggestion over one franchise's sample, as a scatter chart and a table of
cluster centres and score ranges; "Save as segment…" leads to a confirmation form, and only its POST writes."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from core.extensions import db
from core.tenancy import current_user_obj, model_scope
from plugins.tiering.fields import catalogue, check_conditions, describe
from plugins.tiering.menu import TEMPLATE_FOLDER, add_view
from plugins.tiering.models import CustomerValue
from plugins.tiering.overview import charts, clustering
from plugins.tiering.overview.clustering import ClusterInputError, NotEnoughCustomers
from plugins.tiering.overview.permissions import CLUSTERS_MENU
from plugins.tiering.overview.views import OverviewInputError, chosen_franchise, visible_franchises
from plugins.tiering.rfm import SEGMENTS
from plugins.tiering.segments.service import MAX_NAME, save_segment


def segment_conditions(cluster) -> list[dict]:
    """The cluster's score ranges in the segment condition language (fields.py); full ranges are left out."""
    conditions = []
    for name in ("r", "f", "m"):
        low, high = cluster.ranges.get(name, (1, 5))
        if low > 1:
            conditions.append({"field": f"{name}_score", "op": ">=", "value": low})
        if high < 5:
            conditions.append({"field": f"{name}_score", "op": "<=", "value": high})
    return conditions or [{"field": "r_score", "op": ">=", "value": 1}]  # still only scored customers


class ClusterRequest:
    """franchise (one of the viewer's; the first when not chosen) and k, checked."""

    def __init__(self, values):
        self.viewer_scope = model_scope(CustomerValue)
        self.franchises = visible_franchises(self.viewer_scope)
        self.k_raw = values.get("k") or str(clustering.DEFAULT_K)
        try:
            self.franchise_id = chosen_franchise(self.viewer_scope, values.get("franchise"))
        except OverviewInputError as exc:
            raise ClusterInputError(exc.field, exc.problem) from None
        if self.franchise_id is None:
            if not self.franchises:
                raise ClusterInputError("franchise", _("you have no franchise where tiering is on"))
            self.franchise_id = self.franchises[0][0]
        self.k = clustering.check_k(values.get("k"))


def _cluster_rows(result) -> list[dict]:
    rows = []
    for cluster in result.clusters:
        conditions = segment_conditions(cluster)
        rows.append({"cluster": cluster, "segment": SEGMENTS.get(cluster.main_segment, ""),
                     "share": round(cluster.size * 100 / result.sampled, 1) if result.sampled else 0,
                     "ranges": {name: "–".join(map(str, sorted(set(span)))) for name, span in cluster.ranges.items()},
                     "conditions": conditions})
    return rows


class RfmClusterView(BaseView):
    plugin = "tiering"
    route_base = "/tiering/clusters"
    default_view = "show"
    template_folder = TEMPLATE_FOLDER
    base_permissions = ["can_show", "can_save_segment"]

    def _may_save(self) -> bool:
        return self.appbuilder.sm.has_access("can_save_segment", self.class_permission_name)

    def _refused(self, exc, template="tiering/overview_clusters.html", **values):
        status = 200 if isinstance(exc, NotEnoughCustomers) else 400  # an empty franchise is no wrong input
        return self.render_template(template, error=exc, title=_("RFM clusters"), result=None, **values), status

    @expose("/")
    @has_access
    @permission_name("show")
    def show(self):
        franchises = visible_franchises(model_scope(CustomerValue))
        try:
            page = ClusterRequest(request.args)
            result = clustering.suggest(page.franchise_id, page.k)
        except ClusterInputError as exc:
            return self._refused(exc, franchises=franchises, chosen=request.args, k_range=_k_range())
        return self.render_template(
            "tiering/overview_clusters.html", error=None, title=_("RFM clusters"), result=result, page=page,
            franchises=franchises, chosen={"franchise": page.franchise_id, "k": page.k}, k_range=_k_range(),
            rows=_cluster_rows(result), chart=charts.cluster_scatter(result.points, result.clusters),
            may_save=self._may_save())

    @expose("/segment", methods=["GET", "POST"])
    @has_access
    @permission_name("save_segment")
    def save_segment(self):
        """Confirm first (GET shows the conditions and asks for a name); only the POST creates the segment."""
        values = request.form if request.method == "POST" else request.args
        try:
            page = ClusterRequest(values)
            result = clustering.suggest(page.franchise_id, page.k)
            index = _cluster_index(values.get("cluster"), page.k)
        except ClusterInputError as exc:
            return self._refused(exc, template="tiering/overview_segment.html", values=values)
        cluster = result.clusters[index]
        conditions, problem = check_conditions(segment_conditions(cluster), page.franchise_id, for_segments=True)
        fields = catalogue(page.franchise_id, for_segments=True)
        name = (values.get("name") or "").strip()
        error = None
        if problem:
            error = ClusterInputError("conditions", problem)
        elif request.method == "POST":
            error = _save(page.franchise_id, name, conditions, cluster, result)
            if error is None:
                db.session.commit()
                flash(_("Segment %(name)s saved.", name=name), "success")
                return redirect(url_for(".show", franchise=page.franchise_id, k=page.k))
        page_html = self.render_template(
            "tiering/overview_segment.html", error=error, title=_("Save as segment"), page=page, cluster=cluster,
            described=[describe(c, fields) for c in conditions or []], name=name or _default_name(cluster, result),
            values=values)
        return (page_html, 400) if error is not None else page_html


def _k_range():
    return range(clustering.MIN_K, clustering.MAX_K + 1)


def _cluster_index(raw, k) -> int:
    try:
        index = int(raw)
    except (TypeError, ValueError):
        raise ClusterInputError("cluster", _("choose a cluster")) from None
    if not 0 <= index < k:
        raise ClusterInputError("cluster", _("choose a cluster from 1 to %(k)d", k=k))
    return index


def _default_name(cluster, result) -> str:
    return _("%(cluster)s of %(k)d", cluster=cluster.name, k=result.k)[:MAX_NAME]


def _save(franchise_id, name, conditions, cluster, result):
    """Create the segment through the segments service (its checks: name, conditions); a ClusterInputError
    naming the field when it cannot be, nothing written then."""
    description = _("From RFM clustering: %(cluster)s of %(k)d, %(size)d of %(sampled)d sampled customers",
                    cluster=cluster.name, k=result.k, size=cluster.size, sampled=result.sampled)
    _segment, errors = save_segment(None, franchise_id, {"name": name, "description": description[:200],
                                                         "conditions": conditions},
                                    user_id=getattr(current_user_obj(), "id", None))
    if errors:
        field, problem = next(iter(errors.items()))
        return ClusterInputError(field, problem)
    return None


def add_views(appbuilder) -> None:
    add_view(appbuilder, RfmClusterView, CLUSTERS_MENU, _l("RFM clusters"), "fa-braille")
