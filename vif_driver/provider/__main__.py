"""``python -m vif_driver.provider serve ...``: ``vif-driver provider``."""

from .cli import provider

provider(prog_name="vif-driver provider")
