"""The chain search: its trial store, its loop (cheap chains first), the real evaluator and the Pareto front."""
