"""Vision benchmarks: scenarios, the runner, scoring, the run itself and its summary."""
