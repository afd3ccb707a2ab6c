"""One router per resource: tasks, health (probes) and stats (stats and metrics)."""
