"""``python -m vif_driver.provider serve ...`` (same as ``vif-driver provider``)."""

from .cli import provider

provider(prog_name="vif-driver provider")
