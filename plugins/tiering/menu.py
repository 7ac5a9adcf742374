"""The plugin's menu category: one name for permissions, a translated label for people."""

from pathlib import Path

from flask_babel import lazy_gettext as _l

CATEGORY = "Customer value"
CATEGORY_LABEL = _l("Customer value")
CATEGORY_ICON = "fa-signal"
# the views' `template_folder`: FAB gives each view a blueprint of its own, so core never knows the plugin's pages
TEMPLATE_FOLDER = str(Path(__file__).resolve().parent / "templates")


def add_view(appbuilder, view, name: str, label, icon: str) -> None:
    appbuilder.add_view(view, name, label=label, icon=icon, category=CATEGORY, category_label=CATEGORY_LABEL,
                        category_icon=CATEGORY_ICON)
