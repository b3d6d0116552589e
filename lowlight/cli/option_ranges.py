"""Allowed ranges of ``infer.py``'s numeric options: refuse what cannot be meant, name the range."""

from __future__ import annotations

from dataclasses import dataclass

from lowlight.cli.errors import UsageError
from lowlight.enhance.clustered_gp import GPOptions

#: k-means clusters a sample of this many (channel, pixel) points: more centres cannot exist
MAX_K = GPOptions().cluster_points or 4096
#: a 15 x 15 patch already makes 450-dimensional GP inputs (minutes per photo); larger is a typo
MAX_PATCH = 15
#: about 30 000 x 30 000; the default (64 Mpx) already needs ~30 GB to enhance
MAX_PIXELS_LIMIT = 1_000_000_000
#: images of one size enhanced together
MAX_BATCH_SIZE = 256


@dataclass(frozen=True)
class IntRange:
    """An inclusive range of an integer option.

    Attributes:
        option: the option's name as typed, e.g. ``"--k"``.
        low: the smallest allowed value.
        high: the largest allowed value.
        why: a few words on the upper bound, shown when it is exceeded.
    """

    option: str
    low: int
    high: int
    why: str = ""

    def check(self, value: int) -> int:
        """``value`` if it is in range, else a :class:`UsageError` naming the value and the range."""
        if not self.low <= value <= self.high:
            reason = f" ({self.why})" if self.why and value > self.high else ""
            raise UsageError(f"{self.option} {value}: must be in {self.low}..{self.high}{reason}")
        return value


K_RANGE = IntRange("--k", 1, MAX_K, f"k-means clusters a sample of {MAX_K} patch pairs")
PATCH_RANGE = IntRange("--patch", 1, MAX_PATCH, "larger patches take minutes per photo and smooth it away")
MAX_PIXELS_RANGE = IntRange("--max-pixels", 1, MAX_PIXELS_LIMIT, "such an image needs hundreds of GB")
BATCH_SIZE_RANGE = IntRange("--batch-size", 1, MAX_BATCH_SIZE)
WORK_SIZE_RANGE = IntRange("--work-size", 0, 16384, "the working copy is the small one; 0 = full resolution")
DEVICES_RANGE = IntRange("--devices", 1, 1024)
NUM_NODES_RANGE = IntRange("--num-nodes", 1, 100_000)


def samples_per_gp(height: int, width: int, channels: int, cluster_points: int | None) -> int:
    """How many patch pairs one GP of an image clusters: the most centres it can have.

    Args:
        height, width: the image size.
        channels: channels per GP (3 for CM's shared GP, 1 for LM or per-channel GPs).
        cluster_points: the sample size (``GPOptions.cluster_points``; ``None``: all pixels).
    """
    total = channels * height * width
    return total if cluster_points is None else min(cluster_points, total)
