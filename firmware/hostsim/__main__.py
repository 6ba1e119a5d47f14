"""``python -m firmware.hostsim --port N``: the host simulator on its own."""

import sys

from firmware.hostsim.cli import main

sys.exit(main())
