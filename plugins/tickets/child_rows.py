"""Screens of rows that live in the franchise of their parent row (a team's members, a calendar's days)."""

from __future__ import annotations


class InParentFranchise:
    """Mixin for a ScopedModelView: the row takes the franchise of the row its `parent` relation names, so the
    form needs no franchise field and the two can never disagree."""

    parent: str = ""

    def _place(self, item):
        parent = getattr(item, self.parent, None)
        if parent is not None:
            item.franchise_id = parent.franchise_id

    def pre_add(self, item):
        self._place(item)
        super().pre_add(item)

    def pre_update(self, item):
        self._place(item)
        super().pre_update(item)
