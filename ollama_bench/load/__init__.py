"""Load: concurrency and request-rate sweeps over the same targets, one target at a time."""
