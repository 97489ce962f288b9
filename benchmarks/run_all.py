"""Run the performance benchmarks one after another and print their figures (issue 8).

Each benchmark is its own process (fresh clusters, no shared caches). --quick runs small sizes to
check the scripts; the default arguments are those of the figures in docs/benchmarks.md.

    python benchmarks/run_all.py --workdir /tmp/nepagn-bench
    python benchmarks/run_all.py --quick
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

FULL = {
    "inference_efficiency.py": ["--sources", "100000", "--folds", "3"],
    "partition_overhead.py": ["--sources", "100000", "--folds", "3"],
    "workers.py": ["--sources", "100000", "--folds", "3"],
    "scale.py": ["--sizes", "100000", "1000000", "10000000", "--folds", "3", "--keep"],
    "training_speed.py": ["--epochs", "50"],
}
QUICK = {
    "inference_efficiency.py": ["--sources", "5000", "--folds", "2"],
    "partition_overhead.py": ["--sources", "5000", "--folds", "2", "--repeats", "1"],
    "workers.py": ["--sources", "5000", "--folds", "2"],
    "scale.py": ["--sizes", "5000", "20000", "--folds", "2", "--max-minutes", "5"],
    "training_speed.py": ["--epochs", "10"],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: checks the scripts, figures not meaningful")
    parser.add_argument("--only", nargs="+", choices=sorted(FULL), help="run only these benchmarks")
    parser.add_argument("--workdir", type=Path, help="scratch folder shared by the benchmarks (default: a temp dir)")
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="nepagn-bench-"))
    plan = QUICK if args.quick else FULL
    failed = []
    for script, options in plan.items():
        if args.only and script not in args.only:
            continue
        command = [sys.executable, str(HERE / script), *options, "--workdir", str(workdir)]
        print(f"\n$ {' '.join(command)}", flush=True)
        if subprocess.run(command, check=False).returncode != 0:
            failed.append(script)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
