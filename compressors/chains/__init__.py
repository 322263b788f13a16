"""Compression chains a search explores: the candidate space, the user's goal, the [search] table and the recorded choice."""
