"""The search: numba tree kernels, the batched driver and the evaluator protocol."""
