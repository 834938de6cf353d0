"""Start the simulator with each bulk-mutation thread under cProfile (``bench_bulk_publish.py --profile DIR``).

Each operation's profile is written to ``DIR/sim-op-<n>.pstats`` when its thread ends. Bench tooling only.
"""

from __future__ import annotations

import cProfile
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shopify_sim import __main__ as sim_main  # noqa: E402
from shopify_sim.bulk_mutations import BulkMutationRunner  # noqa: E402

OUT = Path(os.environ["BULK_BENCH_PROFILE_DIR"])
_run = BulkMutationRunner._run


def _profiled_run(self, shop, rec, *args, **kwargs):
    prof = cProfile.Profile()
    prof.enable()
    try:
        return _run(self, shop, rec, *args, **kwargs)
    finally:
        prof.disable()
        prof.dump_stats(OUT / f"sim-op-{rec['_n']}.pstats")


BulkMutationRunner._run = _profiled_run

if __name__ == "__main__":
    sys.exit(sim_main.main())
