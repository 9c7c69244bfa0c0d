"""Synthesis: sample grids (``grids``), style codes and truncation (``styles``), interpolation
videos (``video``) and folder translation (``translate_folder``)."""
