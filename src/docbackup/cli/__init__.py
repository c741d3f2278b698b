"""The `docbackup` command: parses input, calls the engine, renders its result."""
