"""The one seed-derivation function used by the CLI, grids, the app and calibration (MODEL.md section 6)."""

from __future__ import annotations

import numpy as np


def derive_seed(master: int, index: int) -> int:
    """Seed of run ``index`` spawned from ``master`` (numpy SeedSequence; equals spawn(n)[index])."""
    ss = np.random.SeedSequence(entropy=int(master), spawn_key=(int(index),))
    return int(ss.generate_state(1, dtype=np.uint32)[0])


def derive_seeds(master: int, n: int) -> list[int]:
    return [derive_seed(master, i) for i in range(n)]
