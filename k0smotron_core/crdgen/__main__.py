"""`python -m k0smotron_core.crdgen [--check]`: write (or check) the CRDs generated from the API models.

Provider CRDs go to `crds/`; the minimal Cluster API core CRDs envtest installs go to
`k0smotron_core/envtest/capi/crds/`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..api import CAPI_KINDS, PROVIDER_KINDS
from . import render

_TARGETS = (("crds", PROVIDER_KINDS), ("k0smotron_core/envtest/capi/crds", CAPI_KINDS))


def _stale_files(directory: Path, wanted: dict[str, str]) -> list[str]:
    problems = []
    for name, text in sorted(wanted.items()):
        path = directory / name
        if not path.exists():
            problems.append(f"{path}: missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{path}: stale")
    for path in sorted(directory.glob("*.yaml")) if directory.exists() else []:
        if path.name not in wanted:
            problems.append(f"{path}: not generated from any model")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m k0smotron_core.crdgen", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1, naming the files, when any is stale")
    parser.add_argument("--root", type=Path, default=Path("."), help="the repository root (default: .)")
    args = parser.parse_args(argv)
    problems: list[str] = []
    for relative, kinds in _TARGETS:
        directory = args.root / relative
        wanted = render(list(kinds))
        if args.check:
            problems += _stale_files(directory, wanted)
            continue
        directory.mkdir(parents=True, exist_ok=True)
        for path in directory.glob("*.yaml"):
            if path.name not in wanted:
                path.unlink()
        for name, text in wanted.items():
            (directory / name).write_text(text, encoding="utf-8")
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        print("CRDs are out of date: run `python -m k0smotron_core.crdgen`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
