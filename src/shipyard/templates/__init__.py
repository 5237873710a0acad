"""Files `shipyard init` writes into an app repo (ci-cd/cloudbuild.yaml, ...)."""
