"""`python -m providers.bootstrap`."""

import sys

from .main import main

sys.exit(main())
