"""Knowledge base, canned replies and reply suggestions."""

from plugins.tickets.kb.models import CannedReply, KbArticle, KbCategory, ReplyRule
from plugins.tickets.kb.permissions import PERMISSIONS

MODELS = [KbCategory, KbArticle, CannedReply, ReplyRule]


def add_views(appbuilder, category) -> None:
    # imported here: the views' interfaces configure the mappers, which needs every part's models loaded
    from plugins.tickets.kb.views import add_views as add

    add(appbuilder, category)

__all__ = ["MODELS", "PERMISSIONS", "add_views"]
