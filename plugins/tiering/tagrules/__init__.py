"""Tag rules: the screens, the JSON API, and checking and saving a rule (`rules`)."""

from plugins.tiering.tagrules.permissions import PERMISSIONS


def add_views(appbuilder, category) -> None:
    # imported here: the views need every part's models mapped first
    from plugins.tiering.tagrules.api import TagRuleApi
    from plugins.tiering.tagrules.views import add_views as add

    appbuilder.add_api(TagRuleApi)
    add(appbuilder)


__all__ = ["PERMISSIONS", "add_views"]
