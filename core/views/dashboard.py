"""The home page: widgets from core and active plugins, for the viewer's franchises."""

from flask import redirect, url_for
from flask_appbuilder import IndexView, expose
from flask_login import current_user

from core.dashboard import widgets_for
from core.plugins import registry
from core.tenancy import current_scope


class DashboardIndexView(IndexView):
    index_template = "crm/dashboard.html"

    @expose("/")
    def index(self):
        if not current_user.is_authenticated:
            return redirect(url_for(f"{self.appbuilder.sm.auth_view.endpoint}.login"))
        scope = current_scope()
        assigned = scope.all or bool(scope.franchise_ids)
        widgets = widgets_for(registry(), scope) if assigned else []
        self.update_redirect()
        return self.render_template(self.index_template, appbuilder=self.appbuilder, widgets=widgets)
