"""The parts of scripts/bench.py (run that; its docstring describes the method).

basics: paths, errors, logging, small helpers   cpu: machine-wide CPU use
registry: the bench's own registry              app: a scratch app and one `invoke` in it
variants: cold, warm and raw runs               schedule: the interleaved repetitions
tables, report: the markdown                    deploy: local deploy and rollback rows
scratch: temp dirs, source snapshot, clean-up
"""
