"""HTTP routers: thin, each calling one use case."""
