"""Dispatch: one Request in, one Response out.

The same function serves the in-process path of a hook entrypoint and the
resident agent. It decides ownership again (the agent must not trust its
callers), validates the input, calls the driver and maps errors to VDSM's
exit codes. The domain-XML rewrite itself is the driver's pure function.
"""

from __future__ import annotations

import sys

from vif_driver.api import HookContext, InvalidInput, VifDriverError
from vif_driver.core import registry, validate
from vif_driver.core.config import HostConfig
from vif_driver.hook.points import HOOK_POINTS, HookPoint
from vif_driver.hook.protocol import Request, Response, one_line

EXTERNAL_NETWORK = "EXTERNAL_NETWORK"


_resident = None  # the agent: a lock guarding driver.open(); hook processes: None


def run_resident() -> None:
    """Mark this process as long-running (the agent): every driver loaded
    from now on is opened once (``resident``, ``open()``) before its first call."""
    global _resident
    import threading  # not at import time: ~3 ms of a hook process
    _resident = _resident or threading.Lock()


def load_driver(name: str):
    """The driver instance, opened first in a resident process."""
    driver = registry.load(name)
    if _resident is not None and not driver.resident:
        with _resident:
            if not driver.resident:
                driver.resident = True
                try:
                    driver.open()
                except BaseException:
                    driver.resident = False  # tried again with the next call
                    raise
    return driver


def is_ours(hook_point: HookPoint, properties, config: HostConfig) -> bool:
    """A vNIC is ours when it is on an external network whose plugin_type a
    driver is configured for; caps and stats are ours when any driver is."""
    if hook_point.json:
        return bool(config.plugin_types)
    return (properties.get("provider_type") == EXTERNAL_NETWORK
            and config.driver_for(properties.get("plugin_type")) is not None)


def handle(request: Request, config: HostConfig) -> Response:
    hook_point = HOOK_POINTS.get(request.hook_point)
    if hook_point is None:
        return Response(1, messages=[f"vif-driver: unknown hook point {request.hook_point!r}"])
    if not is_ours(hook_point, request.properties, config):
        return Response(0)
    if hook_point.call == "network_setup":
        # root in supervdsm, answered by the hook process itself (hook/netsetup.py); never on a
        # caller's word in the agent, whose state dirs the caller's environment would choose
        return Response(0, messages=[f"vif-driver {hook_point.name}: answered by the hook process only "
                                     "(VDSM runs it as root); nothing done here"])
    if hook_point.json:
        return _handle_host(hook_point, request, config)
    return _handle_vnic(hook_point, request, config)


def _handle_vnic(hook_point: HookPoint, request: Request, config: HostConfig) -> Response:
    props = request.properties
    plugin_type = props["plugin_type"]
    driver_name = config.driver_for(plugin_type)
    prefix = f"vif-driver[{driver_name}] {hook_point.name}"
    ctx = None
    try:
        vnic_id = _property(props, "vnic_id", validate.vnic_id, required=True)
        prefix += f" vnic {vnic_id}"
        driver, ctx = _vnic_call(hook_point, request, config, vnic_id)
        if request.data.strip() or hook_point.writes:
            from vif_driver.core import domxml  # lxml: only when there is XML to read or write
            element = domxml.parse_device(request.data)
        else:
            element = None
        if element is None and hook_point.writes:
            raise InvalidInput("device XML is empty; VDSM must pass the <interface> element to this hook")
        result = getattr(driver, hook_point.call)(element, ctx)
        data = None
        if hook_point.writes:
            if result is None:
                result = element
            if getattr(result, "tag", None) != "interface":
                raise VifDriverError(f"driver returned {type(result).__name__}, not an <interface> element")
            data = domxml.serialize_device(result)
            if data == request.data:
                data = None
        return Response(0, data, [f"{prefix}: {w}" for w in ctx.warnings], ctx.actions)
    except Exception as e:  # noqa: BLE001 - every failure becomes an exit code
        warnings = [f"{prefix}: {w}" for w in ctx.warnings] if ctx is not None else []
        return Response(hook_point.fail_code, messages=warnings + [_message(prefix, e, config)],
                        actions=ctx.actions if ctx is not None else [])


def _vnic_call(hook_point: HookPoint, request: Request, config: HostConfig, vnic_id: str):
    """(driver, HookContext) of a vNIC request: its driver loaded, options
    resolved; VifDriverError for a bad vmId or option."""
    props = request.properties
    plugin_type = props["plugin_type"]
    driver_name = config.driver_for(plugin_type)
    vm_id = _property(props, "vmId", validate.uuid, required=False)
    driver = load_driver(driver_name)
    options = resolve_options(driver, config, driver_name, props)
    return driver, HookContext(hook_point=hook_point.name, phase=hook_point.phase, properties=props,
                               options=options, timeout=config.timeout, dry_run=request.dry_run,
                               vnic_id=vnic_id, plugin_type=plugin_type, vm_id=vm_id, driver=driver_name)


MAX_WAIT = 3600.0  # a driver's own wait (wait_bound) is believed up to this: validate.seconds' bound


def wait_bound(request: Request, config: HostConfig) -> float:
    """Seconds the driver says this vNIC call may wait beyond its external
    calls (VifDriver.wait_bound), in [0, MAX_WAIT]; asked by the agent
    before the call so that its deadline covers the wait. 0 for caps,
    stats and requests that are not ours, and when the request is wrong
    (the call itself reports that); a bug in the driver's wait_bound
    raises."""
    hook_point = HOOK_POINTS.get(request.hook_point)
    if hook_point is None or hook_point.json or not is_ours(hook_point, request.properties, config):
        return 0.0
    try:
        vnic_id = _property(request.properties, "vnic_id", validate.vnic_id, required=True)
        driver, ctx = _vnic_call(hook_point, request, config, vnic_id)
    except VifDriverError:
        return 0.0
    seconds = float(driver.wait_bound(ctx))
    return min(seconds, MAX_WAIT) if seconds > 0 else 0.0  # NaN is not > 0


def _handle_host(hook_point: HookPoint, request: Request, config: HostConfig) -> Response:
    """Caps and stats: every configured driver adds its part; one failing
    driver does not hide the others' results (exit 1, data still written).
    VDSM's document is parsed when the first driver needs it: a stats poll
    no driver adds to (adds_stats) leaves it unread."""
    data: dict | None = None
    messages: list[str] = []
    actions: list[str] = []
    changed = failed = False
    for driver_name, plugin_types in config.drivers().items():
        prefix = f"vif-driver[{driver_name}] {hook_point.name}"
        ctx = None
        try:
            driver = load_driver(driver_name)
            options = resolve_options(driver, config, driver_name, request.properties)
            ctx = HookContext(hook_point=hook_point.name, phase=hook_point.phase,
                              properties=request.properties, options=options,
                              timeout=config.timeout, dry_run=request.dry_run,
                              plugin_types=tuple(plugin_types), driver=driver_name)
            if hook_point.call == "get_stats" and not driver.adds_stats(ctx):
                result = None
            else:
                if data is None:
                    data = load_document(request.data, hook_point) if request.data.strip() else {}
                result = getattr(driver, hook_point.call)(data, ctx)
            if result is not None:  # None: nothing to change
                if not isinstance(result, dict):
                    raise VifDriverError(f"driver returned {type(result).__name__}, not a dict or None")
                data, changed = result, True
        except _BadDocument as e:  # VDSM's document itself: no driver can use it
            return Response(1, messages=messages + [_message(f"vif-driver {hook_point.name}", e, config)])
        except Exception as e:  # noqa: BLE001
            messages.append(_message(prefix, e, config))
            failed = True
        if ctx is not None:  # not `if ctx`: a HookContext without properties is empty
            actions.extend(ctx.actions)
            messages.extend(f"{prefix}: {w}" for w in ctx.warnings)
    if hook_point.call == "get_caps" and data is not None and _underlays(data):
        changed = True
    text = _encode(data) if changed and data is not None else None
    return Response(1 if failed else 0, text, messages, actions)


def _underlays(caps: dict) -> bool:
    """caps['vif_driver']['underlays']: what the network setups recorded
    (docs/network-setup.md); False when nothing is (one stat)."""
    from vif_driver.core import underlay_state
    state = underlay_state.load()
    if state:
        caps.setdefault("vif_driver", {})["underlays"] = state
    return bool(state)


class _BadDocument(InvalidInput):
    """VDSM's caps or stats document cannot be read (see load_document)."""


_JSON_FIX = "check the scripts that ran before ours (VDSM itself writes plain JSON objects)"


def load_document(text: str, hook_point: HookPoint) -> dict:
    """The caps or stats dict VDSM passed, parsed by the standard json
    module; InvalidInput, one line saying what is wrong and where, for
    anything else (truncated, a BOM, nesting or numbers past Python's limits)."""
    import json

    where = f"${hook_point.env_var}"
    if text.startswith("\ufeff"):
        raise _BadDocument(f"{where} starts with a UTF-8 byte order mark, which JSON does not allow; {_JSON_FIX}")
    try:
        data = json.loads(text, parse_int=_json_int)
    except json.JSONDecodeError as e:
        what = e.msg[:-3] if e.msg.endswith(" at") else e.msg  # "Unterminated string starting at"
        raise _BadDocument(f"{where} is not valid JSON: {what} at line {e.lineno} column {e.colno}; "
                           f"{_JSON_FIX}") from None
    except RecursionError:
        raise _BadDocument(f"{where} nests JSON arrays or objects too deeply for Python's json module; "
                           f"{_JSON_FIX}") from None
    if not isinstance(data, dict):
        raise _BadDocument(f"{where} holds a JSON {_json_kind(data)}, expected an object; {_JSON_FIX}")
    return data


def _json_int(digits: str) -> int:
    try:
        return int(digits)
    except ValueError:  # over sys.get_int_max_str_digits() (Python 3.11, 3.9.14 and later)
        limit = getattr(sys, "get_int_max_str_digits", lambda: 0)()
        raise _BadDocument(f"$_hook_json has an integer of {len(digits)} digits, over Python's limit of "
                           f"{limit} (sys.set_int_max_str_digits); {_JSON_FIX}") from None


def _json_kind(value) -> str:
    return {list: "array", str: "string", bool: "boolean", int: "number", float: "number",
            type(None): "null"}.get(type(value), type(value).__name__)


def _encode(data: dict) -> str:
    from json import dumps  # not at import time: a hook process for a foreign vNIC never needs it
    return dumps(data)


def resolve_options(driver, config: HostConfig, driver_name: str, properties) -> dict[str, object]:
    """Driver options: declared defaults, then the host config's
    [driver:NAME] section, then the vNIC's provider custom properties
    (refused for host-only options)."""
    section = config.options_for(driver_name)
    unknown = sorted(set(section) - set(driver.options))
    if unknown:
        where = config.where(f"driver:{driver_name}", unknown[0])
        raise InvalidInput(f"{where}: [driver:{driver_name}] unknown option {validate.shown(unknown[0])}; "
                           f"{_known(unknown[0], sorted(driver.options))}")
    values = {}
    for key, option in driver.options.items():
        if key in properties and option.host_only:
            raise InvalidInput(f"property {key} is host configuration only; remove it from the vNIC's "
                               f"custom properties and set it in [driver:{driver_name}]")
        if key in properties:
            raw, where = properties[key], f"property {key}"
        elif key in section:
            raw, where = section[key], f"config [driver:{driver_name}] {key}"
        else:
            values[key] = option.default
            continue
        values[key] = _parse(raw, option.parse, where)
    return values


def _known(name: str, known: list[str]) -> str:
    """What to write instead of an unknown option: the closest known one,
    else the known ones if they fit in a short line."""
    if not known:
        return "this driver has no options: remove it"
    import difflib
    close = difflib.get_close_matches(name, known, 1)
    if close:
        return f"did you mean '{close[0]}'?"
    listing = ", ".join(known)
    if len(listing) > 40:  # the whole list would not leave the message one short line
        return f"not one of its {len(known)} options (see the driver's docs)"
    return f"known: {listing}"


def _property(props, key, parse, required):
    value = props.get(key)
    if value is None or value == "":
        if required:
            raise InvalidInput(f"property {key} is missing; the engine passes it as a vNIC custom property")
        return None
    return _parse(value, parse, f"property {key}")


def _parse(raw: str, parse, where: str):
    if len(raw) > validate.MAX_PROPERTY_LENGTH:
        raise InvalidInput(f"{where}: value of {len(raw)} characters is over the "
                           f"{validate.MAX_PROPERTY_LENGTH}-character limit")
    try:
        return parse(raw)
    except ValueError as e:
        raise InvalidInput(f"{where}: {e}") from None


def _message(prefix: str, error: Exception, config: HostConfig) -> str:
    if isinstance(error, VifDriverError):
        text = str(error)
    else:
        text = f"internal error {type(error).__name__}: {error}"
        if config.debug:
            import traceback
            traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
        else:
            text += " (set debug = true in [vif-driver] of the config for a traceback)"
    return one_line(f"{prefix}: {text}")


