"""Regenerate the bundled demo database (nexus_tui/data/demo.db, shipped inside the package).

usage: python data/make_demo.py [PATH]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nexus_tui.demo import REPO_DATA, write_demo  # noqa: E402

if __name__ == "__main__":
    print(f"wrote {write_demo(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO_DATA)}")
