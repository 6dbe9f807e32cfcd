"""The gate: settings, machine comparison, statistics, run against run, paired A/B."""
