"""Steps: each turns an artifact into a new, cached artifact, driven by a frozen dataclass config."""
