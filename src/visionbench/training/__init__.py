"""What the benches train and time:

- `train`: the training loop (`TrainConfig`, `Trainer`, `fit`), evaluation, schedules;
- `workloads`: a model and its data as a bench asks for them (`Workload`), trained once
  per session by value (`TrainedModels`);
- `model_bench`: the `vb` fixture's object, which times a workload's training step and
  inference through the runner and records its figures.
"""
