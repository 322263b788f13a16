"""Subcommands of the `compressors` command line; each module exposes NAME, SUMMARY, configure and run."""
