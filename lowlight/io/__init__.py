"""Files: image reading and writing, atomic writes, the W&B mode."""
