"""CI gating as a program: `visionbench ci pr|main|ready|shard|matrix` (`commands`), for
GitHub Actions or any other CI. `context` reads what the job is, `ready` checks the
runner, `decide` chooses the testbed and the baseline, `steps` runs each step as a process
that a cancelled job stops cleanly, `jobs` is the pull request's, main's and a matrix
shard's logic, `sharded` merges a matrix's shards into the final job's run, `summary` the
one summary a job writes."""
