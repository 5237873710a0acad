"""One module per release stage; each takes (config, runner, ...) and returns a result."""
