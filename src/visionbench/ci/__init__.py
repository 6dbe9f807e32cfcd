"""CI gating as a program: `visionbench ci pr|main|ready` (`commands`), for GitHub
Actions or any other CI. `context` reads what the job is, `ready` checks the runner,
`decide` chooses the testbed and the baseline, `steps` runs each step as a process that
a cancelled job stops cleanly, `jobs` is the pull request's and main's logic, `summary`
the one summary a job writes."""
