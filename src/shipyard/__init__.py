"""shipyard: release automation for multi-service container apps (Invoke + Nox)."""

__version__ = "0.1.0"
