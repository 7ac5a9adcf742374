"""Teams, dispatch rules, assignment inside a team, the unassigned backlog and cross-franchise sharing.

Intake calls `dispatch.route(ticket, user)` for each new ticket; people assign through `assign.assign_to`
and `assign.move_to_team`; `sharing.invite` lets the parcel's other franchise see one ticket.
"""

from core.jobs import PeriodicJob
from plugins.tickets.routing.models import DispatchRule, Team, TeamMember
from plugins.tickets.routing.permissions import PERMISSIONS

MODELS = [Team, TeamMember, DispatchRule]
PERIODIC_JOBS = [PeriodicJob("redispatch_backlog", "plugins.tickets.routing.backlog:redispatch_backlog",
                             interval=300)]


def add_views(appbuilder, category) -> None:
    # imported here: the views' interfaces configure the mappers, which needs every part's models loaded
    from plugins.tickets.routing.views import add_views as add

    add(appbuilder, category)


__all__ = ["MODELS", "PERIODIC_JOBS", "PERMISSIONS", "add_views"]
