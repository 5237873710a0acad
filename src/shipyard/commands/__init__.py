"""Pure argv builders, one module per tool: functions that return tuple[str, ...], no I/O."""
