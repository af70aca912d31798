"""Command line: ``python -m pt20 data [NAME ...]`` fetches and verifies datasets."""

import sys

from pt20 import data

if __name__ == "__main__":
    args = sys.argv[1:]
    if not args or args[0] != "data":
        sys.exit("usage: python -m pt20 data [NAME ...]   (fetch and verify datasets into the cache)")
    sys.exit(data.main(args[1:]))
