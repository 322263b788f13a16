"""The benchmark suite's pytest plugin, for `benchmarks/` and for the tests that drive it."""

pytest_plugins = ("compressors.pytest_plugin",)
