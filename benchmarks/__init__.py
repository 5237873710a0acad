"""The bench: `python -m benchmarks` (`nox -s bench`); __main__.py describes the method.

basics: paths, errors, logging, small helpers   cpu: machine-wide CPU use
registry: the registry and its access log       app: a scratch app and one `invoke` in it
variants: cold, warm and raw runs               schedule: the interleaved repetitions
tables, report: the markdown                    deploy: the sample app's deploy and rollback
scratch: temp dirs, source snapshot, clean-up

What the tests have too (a free port, the registry process, scratch git repos, running `invoke`,
an app's config and secrets, removing images) comes from tests/support/, never a copy.
"""
