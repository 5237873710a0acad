"""Cloud Build's `ci-cd/cloudbuild.yaml`, read and run on this machine (local parity).

parse.py (with fields.py) reads and checks the file, substitute.py (with bash.py for dynamic
substitutions) resolves substitutions the way Cloud Build does, schedule.py turns `waitFor`
into a dependency graph: all pure. execute.py runs the steps through the one Runner; local.py
is the command line (`nox -s cloudbuild`, `python -m shipyard.cloudbuild.local`).

The same reading serves Cloud Build's API through gcloud: submit.py (`cloudbuild-submit`) and
trigger.py (`cloudbuild-trigger`), with submit_checks.py adding what a submit checks on top.
"""
