"""Data-parallel training (DistributedDataParallel through torch's elastic launcher)."""
