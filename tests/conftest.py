"""Shared fixtures: the repo root on sys.path, and pytest markers."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
