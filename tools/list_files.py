#!/usr/bin/env python3
"""Print the files under DIR whose names match PATTERN, sorted, one per line (meson has no glob)."""
import pathlib
import sys

root, pattern = sys.argv[1], sys.argv[2]
exclude = sys.argv[3:]
for p in sorted(pathlib.Path(root).rglob(pattern)):
    if not any(part in exclude for part in p.parts):
        print(p.as_posix())
