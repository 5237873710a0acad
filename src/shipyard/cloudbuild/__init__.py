"""Cloud Build's `ci-cd/cloudbuild.yaml`, read and run on this machine (local parity).

parse.py reads and checks the file, substitute.py resolves substitutions the way Cloud Build
does, schedule.py turns `waitFor` into a dependency graph: all three pure. execute.py runs
the steps through the one Runner; local.py is the command line (`nox -s cloudbuild`).
"""
