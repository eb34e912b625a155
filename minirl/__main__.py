"""`python -m minirl ...` is the `minirl` command."""

import sys

from minirl.cli import main

sys.exit(main())
