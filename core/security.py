"""Security manager: FAB's database login, plus the rate limit on the REST login FAB leaves out."""

from flask import current_app
from flask_appbuilder.security.sqla.manager import SecurityManager


class CrmSecurityManager(SecurityManager):
    def register_views(self):
        super().register_views()
        # FAB rate-limits the login form only; /api/v1/security/login needs the same limit.
        app = current_app
        if app.config.get("AUTH_RATE_LIMITED") and "SecurityApi" in app.blueprints:
            self.limiter.limit(app.config["AUTH_RATE_LIMIT"], methods=["POST"])(app.blueprints["SecurityApi"])
