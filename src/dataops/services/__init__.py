"""Use cases: each takes the workspace and plain arguments and owns its transaction."""
