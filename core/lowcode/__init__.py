"""Low-code core: admin-defined custom fields and form layouts, applied without restart or migration."""

from core.lowcode.models import CustomFieldDefinition, CustomFieldsMixin, FormLayout

__all__ = ["CustomFieldDefinition", "CustomFieldsMixin", "FormLayout"]
