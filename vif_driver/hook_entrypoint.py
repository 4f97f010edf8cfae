#!/usr/bin/python3
"""vif-driver's VDSM hook entrypoint; its hook point is its directory's name."""
import os
import sys

from vif_driver.entry import main

sys.exit(main(os.path.basename(os.path.dirname(os.path.abspath(__file__)))))
