"""`python -m providers.infrastructure`."""

import sys

from .main import main

sys.exit(main())
