"""Helpers the tests and the bench (benchmarks/) share: plain Python, no pytest, no timing.

ports: a free loopback port      registry: a real docker-registry on one
git: the commit identity, git, a repo pushed to a bare remote
cli: `invoke` run as a user runs it      apps: an app's config and secrets file
images: listing and removing docker images
"""
