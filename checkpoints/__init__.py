"""The shipped weights, installed as the package ``lowlight.weights`` (see ``pyproject.toml``).

Read them through :func:`lowlight.enhance.checkpoints.shipped_checkpoint`, which finds them with
``importlib.resources`` in a checkout and in an installed wheel alike.
"""
