"""`python -m visionbench.ci pr|main|ready|...`: `visionbench ci`, loading only the standard
library until a job needs more (a fork's pull request is named with nothing installed)."""

import sys

from visionbench.ci.commands import main

sys.exit(main())
