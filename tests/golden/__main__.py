"""``python -m tests.golden [CASE ...]``: regenerate golden digests (``make golden``)."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from tests.golden.cases import CASES, DIGESTS, load, run_case


def main(argv: list[str]) -> int:
    names = argv or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        print(f"error: unknown golden case(s) {unknown}; known: {list(CASES)}", file=sys.stderr)
        return 2
    digests = load()
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            digests[name] = run_case(name, Path(tmp) / name)
            print(f"{name}: {len(digests[name])} files")
    tmp_path = DIGESTS.with_suffix(".tmp")
    tmp_path.write_text(json.dumps(dict(sorted(digests.items())), indent=1, sort_keys=True) + "\n")
    tmp_path.replace(DIGESTS)
    print(f"wrote {DIGESTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
