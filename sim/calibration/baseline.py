"""Rewrite the history regression baseline deliberately: ``python -m sim.calibration.baseline``.

(The same as ``python -m sim calibrate --baseline-only``; ``calibrate --update-baseline`` does it after
a fit.) The baseline pins, per target, the calibrated history's mean over the first replicates.
"""

from __future__ import annotations

import sys

from sim.calibration.pipeline import BASELINE, write_baseline


def main() -> int:
    data = write_baseline("history", BASELINE)
    print(f"baseline written: {BASELINE} ({len(data['targets'])} targets, loss {data['loss']:.2f})")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
