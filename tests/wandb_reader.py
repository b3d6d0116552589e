"""Reading an offline W&B run file back, as the tests check what was logged."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

_BLOCK = 32768  # LevelDB log block size of the .wandb file


def read_offline_run(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The config and history rows of an offline run file ``run-*.wandb``.

    The file is a 7-byte header (``:W&B``, magic, version) then a LevelDB log: 32 KiB blocks of
    chunks (crc32c, length, type: 1 full, 2 first, 3 middle, 4 last), each record a
    ``wandb_internal_pb2.Record`` protobuf (what ``wandb sync`` uploads).
    """
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    if data[:4] != b":W&B":
        raise ValueError(f"{path}: not a W&B run file (starts with {data[:7]!r})")
    config: dict[str, Any] = {}
    history: list[dict[str, Any]] = []
    position, pieces = 7, []
    while position + 7 <= len(data):
        left = _BLOCK - position % _BLOCK
        _, length, kind = struct.unpack("<IHB", data[position : position + 7])
        if left < 7 or (length == 0 and kind == 0):  # block trailer / padding
            position += left
            continue
        pieces.append(data[position + 7 : position + 7 + length])
        position += 7 + length
        if kind in (2, 3):
            continue
        record = wandb_internal_pb2.Record()
        record.ParseFromString(b"".join(pieces))
        pieces = []
        kind_name = record.WhichOneof("record_type")
        if kind_name == "config":
            config.update({item.key: json.loads(item.value_json) for item in record.config.update})
        elif kind_name == "history":
            row: dict[str, Any] = {}
            for item in record.history.item:
                path = [item.key] if item.key else list(item.nested_key)  # media: (key, field)
                target = row
                for part in path[:-1]:
                    target = target.setdefault(part, {})
                target[path[-1]] = json.loads(item.value_json)
            history.append(row)
    return config, history
