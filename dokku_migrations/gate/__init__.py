"""The gate and what enforces it: which images may start, the run records, the watchdog, left-overs, rollback."""
