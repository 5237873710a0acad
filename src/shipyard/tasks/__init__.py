"""The Invoke namespace an app repo imports: `from shipyard.tasks import ns`."""

from invoke.collection import Collection

from shipyard.tasks import git_tasks, image_tasks, local_tasks, release_tasks, scan_tasks

ns = Collection()
ns.add_task(git_tasks.tag)
ns.add_task(git_tasks.cleanup_branch)
ns.add_task(image_tasks.build)
ns.add_task(image_tasks.push)
ns.add_task(scan_tasks.scan)
ns.add_task(local_tasks.local_up)
ns.add_task(local_tasks.local_down)
ns.add_task(release_tasks.release)
ns.add_task(release_tasks.deploy)
ns.add_task(release_tasks.rollback)
ns.add_task(release_tasks.status)

__all__ = ["ns"]
