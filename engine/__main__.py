"""`python -m hdredraw.engine` is the same as the `hdredraw` command."""

import sys

from .cli import main

sys.exit(main())
