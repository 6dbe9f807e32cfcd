"""`visionbench tune`: the fastest combination of the training switches to a target
accuracy on this machine, confirmed over seeds, with what each switch is worth.

command (the command line, the budget's phases), search (greedy forward selection,
torch-free), worth (the Shapley game over the winner's switches, torch-free), space (the
registry's switches and what this device runs), trials (one seed trained to the
target), data (the dataset as PNG folders and decoded), run (the phases on a real
model), output (tables, the PyTorch snippet, the saved run).
"""
