"""The Invoke namespace an app repo imports: `from shipyard.tasks import ns`.

Every task acts on the app in the current directory, or on the one the Invoke config key
`shipyard.app` names (`INVOKE_SHIPYARD_APP=PATH`, or `shipyard: {app: PATH}` in invoke.yaml).
`app_namespace()` is the same tasks for a repo that is not an app itself (shipyard's own
checkout): there an app must be named.
"""

import gc

from invoke.collection import Collection

from shipyard.tasks import (
    bootstrap_tasks,
    cloud_tasks,
    cloudbuild_tasks,
    flag_tasks,
    git_tasks,
    image_tasks,
    init_tasks,
    local_tasks,
    ops_tasks,
    release_tasks,
    scan_tasks,
    secret_tasks,
)

TASKS = (git_tasks.tag, git_tasks.cleanup_branch, image_tasks.build, image_tasks.push,
         scan_tasks.scan, local_tasks.local_up, local_tasks.local_down, release_tasks.release,
         release_tasks.deploy, release_tasks.rollback, release_tasks.status,
         cloud_tasks.deploy_run, cloud_tasks.deploy_gke,
         secret_tasks.secrets_set, secret_tasks.secrets_list, secret_tasks.secrets_check,
         ops_tasks.monitoring_render, ops_tasks.monitoring_apply, ops_tasks.checklist,
         cloudbuild_tasks.cloudbuild_submit, cloudbuild_tasks.cloudbuild_trigger,
         init_tasks.init, flag_tasks.flag,
         bootstrap_tasks.gcp_bootstrap)
APP_REQUIRED = ""  # the config value that means "no app named yet, and one is needed"


def namespace(app: str | None = None) -> Collection:
    tree = Collection()
    for task in TASKS:
        tree.add_task(task)
    tree.configure({"shipyard": {"app": app}})
    return tree


def app_namespace() -> Collection:
    return namespace(APP_REQUIRED)


ns = namespace()

# What is imported by now lives as long as the process: the collector skips it from here on,
# which makes each later collection and the interpreter's exit cheaper (about 15 ms a process).
gc.freeze()

__all__ = ["ns", "namespace", "app_namespace"]
