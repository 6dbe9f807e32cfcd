"""Examples to copy: `tiny_net` is a model of your own, as `--vb-model` takes it."""
