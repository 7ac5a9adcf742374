"""Teams, dispatch rules and assignment inside a team."""

from plugins.tickets.routing.models import DispatchRule, Team, TeamMember

MODELS = [Team, TeamMember, DispatchRule]
