"""Hydra configuration tree (a package so the console scripts find it from any folder)."""
