"""posterm's firmware: the transaction core, its runner, the host protocol and the CLI."""

from firmware.classcode import install as _install_class_code

_install_class_code()  # before any of posterm's dataclasses is made (firmware/classcode.py)
