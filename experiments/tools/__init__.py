"""Tools: the benchmark and the checks of the queueing and latency formulas against Ciw."""
