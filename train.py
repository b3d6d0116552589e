"""Train a reference CNN: ``uv run train.py fit --config configs/rgb_cnn.yaml`` (see README)."""

from lowlight.train.cli import main

if __name__ == "__main__":
    main()
