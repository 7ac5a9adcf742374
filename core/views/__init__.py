"""Base views for every screen and API of core and plugins: scoped, plugin-aware, with custom fields."""

from core.views.base import ScopedModelRestApi, ScopedModelView

__all__ = ["ScopedModelRestApi", "ScopedModelView"]
