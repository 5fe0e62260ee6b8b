"""Typed settings read from the environment (see CONTRACT.md, "Configuration")."""

from config.settings import Settings, SettingsError, load_settings

__all__ = ["Settings", "SettingsError", "load_settings"]
