"""Deploy targets (local, cloudrun, gke) and the local environment's own services."""
