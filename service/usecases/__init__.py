"""Use cases: load context, call domain/, persist. They flush; the request's session commits."""
