"""What a fresh interpreter holds after an import: for the tests that keep a hot path's start-up lean."""

import subprocess
import sys
from pathlib import Path
from typing import List, Sequence

REPO = Path(__file__).resolve().parents[2]


def loaded(statement: str, modules: Sequence[str], *flags: str) -> List[str]:
    """Which of `modules` a new Python (with `flags`) has loaded once it has run `statement` (the check
    itself imports nothing)."""
    code = f"import sys; {statement}; print(' '.join(m for m in {list(modules)!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, *flags, "-c", code], capture_output=True, text=True, check=True,
                            cwd=REPO)
    return sorted(result.stdout.split())
