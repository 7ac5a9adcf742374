"""Who gets the tag rules: franchise IT configures them (for its franchise; HQ for every franchise), account
and outlet managers read them. The API has the same split."""

RULES_MENU = "Tag rules"
RULES_VIEW = "TagRuleView"
RULES_API = "TagRuleApi"

READ = [("can_list", RULES_VIEW), ("menu_access", RULES_MENU), ("can_get", RULES_API)]
WRITE = READ + [("can_add", RULES_VIEW), ("can_edit", RULES_VIEW), ("can_delete", RULES_VIEW),
                ("can_post", RULES_API), ("can_put", RULES_API)]

PERMISSIONS = {
    "Franchise IT": WRITE,
    "Outlet Manager": READ,
    "Account Manager": READ,
}
