"""Knowledge base, canned replies and reply suggestions."""

from plugins.tickets.kb.models import CannedReply, KbArticle, KbCategory, ReplyRule

MODELS = [KbCategory, KbArticle, CannedReply, ReplyRule]
