"""The bench: `python -m benchmarks` (`nox -s bench`); __main__.py describes the method.

basics: paths, errors, logging, small helpers   cpu: machine-wide CPU use
registry: the bench's own registry              app: a scratch app and one `invoke` in it
variants: cold, warm and raw runs               schedule: the interleaved repetitions
tables, report: the markdown                    deploy: the sample app's deploy and rollback
scratch: temp dirs, source snapshot, clean-up
"""
