"""The A/B gate (`visionbench ab`): a baseline revision against the working tree, both
measured in the same job (`command`): the timing lane's blocks from one zygote (`timing`,
`zygote`, `processes`), the instruction lane (`instructions`), the full runs for the
deterministic figures (`full_runs`, judged by `visionbench.gate`), the budget's minutes
(`budget`), the machine's calibration (`calibrate`, `calibration`), GPU clocks (`gpu`),
the baseline's worktree (`worktree`) and what it prints and writes (`output`)."""
