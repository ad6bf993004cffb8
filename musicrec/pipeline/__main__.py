"""`python -m musicrec.pipeline [options]`: the same as `python -m musicrec pipeline [options]`."""

import sys

from musicrec.cli import main

if __name__ == "__main__":
    sys.exit(main(["pipeline", *sys.argv[1:]]))
