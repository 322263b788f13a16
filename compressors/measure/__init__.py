"""Measurement: predictors, accuracy, latency, paired speed-ups, budgets and the record of a variant's figures."""
