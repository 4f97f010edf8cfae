"""The `vif-driver` command."""

import sys

import click

from vif_driver import __version__


class LazyGroup(click.Group):
    """Subcommands that live in their own modules, imported only when used."""

    lazy = {
        "provider": ("vif_driver.provider.cli", "provider", "Run the reference external network provider."),
        "doctor": ("vif_driver.tools.doctor", "doctor", "Check this host's vif-driver setup and say what to fix."),
        "demo": ("vif_driver.tools.demo", "demo", "Run the whole flow on this machine (root, Open vSwitch)."),
    }

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx, name):
        if name in self.lazy:
            import importlib
            module, attr, summary = self.lazy[name]
            try:
                return getattr(importlib.import_module(module), attr)
            except ImportError as e:
                error = f"'{name}' is unavailable in this installation: {e}"

                def unavailable():
                    raise click.ClickException(error)
                return click.Command(name, callback=unavailable, help=summary, short_help=summary)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vif-driver")
def main():
    """Connect oVirt VM NICs to external network providers' networks.

    VDSM runs vif-driver's hook entrypoints at every vNIC lifecycle event;
    these commands install them, show the drivers, and replay hook runs.
    """


@main.command("install-hooks")
@click.option("--destdir", required=True, type=click.Path(file_okay=False),
              help="Root to install under: DIR/usr/libexec/vdsm/hooks/<hook_point>/50_vif_driver "
                   "(10_vif_driver in the network-setup points).")
@click.option("--interpreter", default=sys.executable, show_default=True,
              help="Absolute interpreter path for the scripts' shebang.")
def install_hooks_cmd(destdir, interpreter):
    """Write the hook entrypoints (mode 0755), one per supported hook point."""
    from vif_driver.tools import install
    try:
        paths = install.install_hooks(destdir, interpreter)
    except (OSError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    for path in paths:
        click.echo(path)


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Host config file (default: $VIF_DRIVER_CONFIG or /etc/vif-driver/vif-driver.conf).")
def drivers(config_path):
    """List the installed drivers and the plugin_type mapping."""
    from vif_driver.core import registry
    cfg = _load_config(config_path)
    installed = registry.entry_points()
    click.echo("installed drivers (entry-point group vif_driver.drivers):")
    for name, target in sorted(installed.items()):
        click.echo(f"  {name:16} {target}")
    click.echo(f"plugin_type mapping ({cfg.path or 'built-in defaults, no config file'}):")
    for plugin_type, name in sorted(cfg.plugin_types.items()):
        state = "" if name in installed else "   <-- NOT INSTALLED"
        click.echo(f"  {plugin_type:24} -> {name}{state}")


@main.command()
@click.argument("fixtures", nargs=-1, type=click.Path(exists=True))
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              help="Host config file for the hook runs (sets $VIF_DRIVER_CONFIG).")
@click.option("--dry-run", is_flag=True, help="Show the host changes (OVSDB, netlink) without making them.")
@click.option("--hooks-dir", type=click.Path(exists=True, file_okay=False),
              help="Run every script of this hooks root (e.g. /usr/libexec/vdsm/hooks) "
                   "instead of vif-driver's entrypoint alone.")
@click.option("--in-process", is_flag=True,
              help="Answer owned hooks in the hook process, never through the agent, even unprivileged "
                   "(sets $VIF_DRIVER_IN_PROCESS=1): a replay on a laptop; host changes then need root.")
@click.option("--quiet", "-q", is_flag=True, help="Print one line per fixture.")
def replay(fixtures, config_path, dry_run, hooks_dir, in_process, quiet):
    """Run hook points on FIXTURES exactly as VDSM would.

    A fixture is a JSON file (see tests/fixtures/README.md) naming the hook
    point, the custom properties and the device XML or JSON; a directory
    stands for its *.json files in order, e.g. a whole vNIC lifecycle.
    Captured fixtures (capture_dir in the config) replay the same way.
    Prints each run's stderr, exit code, a diff and the resulting data, then
    "N of M fixtures as expected"; exits 1 if any run's exit code or stderr
    differs from the fixture's expect (exit_code, stderr patterns).
    """
    from vif_driver.tools.fixture import FixtureError, expand
    from vif_driver.tools.replay import replay_all

    paths = expand(fixtures)
    if not paths:
        raise click.UsageError("give at least one fixture file or directory")
    try:
        as_expected, total = replay_all(paths, echo=click.echo, quiet=quiet, hooks_root=hooks_dir,
                                        config=config_path, dry_run=dry_run, in_process=in_process)
    except FixtureError as e:
        raise click.ClickException(str(e)) from None
    if as_expected != total:
        raise SystemExit(1)


def _load_config(path):
    import os

    from vif_driver.core import config
    env = dict(os.environ)
    if path:
        env[config.CONFIG_ENV] = path
    try:
        return config.load(env)
    except config.ConfigError as e:
        raise click.ClickException(str(e)) from None


if __name__ == "__main__":
    main()
