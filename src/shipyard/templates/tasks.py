from shipyard.tasks import ns  # noqa: F401
