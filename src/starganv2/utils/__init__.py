"""Helpers used across the library: the one atomic file write, the one pixel conversion."""
