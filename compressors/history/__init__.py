"""Saved runs: loading them, the gate's rule and verdict, reports and the Pareto front."""
