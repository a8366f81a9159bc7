"""The `gift` command of a pip-installed package (the console script of pyproject.toml): runs the
CLI that setup.py ships inside the package, gift/bin/gift, with the same arguments. The process
becomes the CLI (exec), so its output, signals and exit status are the CLI's own."""

import os
import sys


def main():
    exe = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin", "gift")
    if not os.access(exe, os.X_OK):
        sys.stderr.write(f"gift: error: {exe}: not found; this copy of the gift Python package "
                         "has no gift command (install it with pip install .)\n")
        return 1
    os.execv(exe, [exe] + sys.argv[1:])
