"""The A/B gate (`visionbench ab`): a baseline revision against the working tree, both
measured in the same job."""
