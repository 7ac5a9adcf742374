"""Who may use the knowledge base: agents read and look up, franchise IT configures (HQ has everything)."""

ARTICLES_MENU = "Knowledge articles"
CATEGORIES_MENU = "Knowledge categories"
REPLIES_MENU = "Canned replies"
RULES_MENU = "Reply rules"


def _read(view):
    return [("can_list", view), ("can_show", view)]


def _write(view):
    return _read(view) + [("can_add", view), ("can_edit", view), ("can_delete", view), ("can_export", view)]


LOOKUP = [("can_read", "KbLookupView")]
AGENT = (_read("KbArticleView") + _read("CannedReplyView") + LOOKUP
         + [("menu_access", ARTICLES_MENU), ("menu_access", REPLIES_MENU)])
CONFIG = (_write("KbArticleView") + _write("KbCategoryView") + _write("CannedReplyView") + _write("ReplyRuleView")
          + LOOKUP + [("menu_access", m) for m in (ARTICLES_MENU, CATEGORIES_MENU, REPLIES_MENU, RULES_MENU)])
PERMISSIONS = {
    "Frontline Agent": AGENT,
    "Outlet Manager": AGENT,
    "Account Manager": _read("KbArticleView") + LOOKUP + [("menu_access", ARTICLES_MENU)],
    "Franchise IT": CONFIG,
}
