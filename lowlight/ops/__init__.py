"""Tensor operations every layer uses: checks, colour, patches, padding, tiling, gates."""
