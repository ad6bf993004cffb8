"""`python -m musicrec ...` runs the command-line interface."""

import sys

from musicrec.cli import main

sys.exit(main())
