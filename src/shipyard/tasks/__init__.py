"""The Invoke namespace an app repo imports: `from shipyard.tasks import ns`."""

from invoke import Collection

from shipyard.tasks import git_tasks

ns = Collection()
ns.add_task(git_tasks.tag)
ns.add_task(git_tasks.cleanup_branch)

__all__ = ["ns"]
