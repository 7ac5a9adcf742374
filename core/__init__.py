"""courier-crm platform core. Nothing in core imports a plugin."""
