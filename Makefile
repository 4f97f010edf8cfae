# vif-driver: developer and packaging entry points.
#   make venv     create .venv and install vif-driver with its test dependencies
#   make demo     the main job on a fresh machine (root): installs what it needs, then
#                 provider, hooks, switch and traffic, all removed at the end
#   make run      replay the bundled fixtures (changes nothing on the host)
#   make check    the test suite (what .ci/run runs, once per Python:
#                 make check PYTHON=/path/to/python3.9 VENV=.venv-3.9)
#   make lint     ruff and mypy, configured in pyproject.toml (CI runs it too)
#   make check-old-ovs  the OVN backend's tests on the oldest python-ovs it
#                 supports (CI runs it on Python 3.9, in a venv of its own)
#   make bench    whole-hook-process benchmarks, as ratios to a bare interpreter;
#                 the provider's (SQLite and OVN backends)
#   make install  install hook entrypoints under $(DESTDIR) for packaging
#   make dist     sdist tarball in dist/
#   make rpm      RPMs from rpm/vif-driver.spec and the sdist

# PYTHON makes the venv; each interpreter needs a VENV of its own.
PYTHON ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
PY_VERSION := import sys; print("%d.%d" % sys.version_info[:2])
DESTDIR ?= /
HOOK_PYTHON ?= /usr/bin/python3
VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' vif_driver/__init__.py)

.PHONY: venv reinstall run demo check check-old-ovs lint bench install dist rpm clean

$(VPY):
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip setuptools wheel

# A venv made by another interpreter than PYTHON would test the wrong Python.
venv: $(VPY)
	@want=$$($(PYTHON) -c '$(PY_VERSION)') && have=$$($(VPY) -c '$(PY_VERSION)') && \
	  [ "$$want" = "$$have" ] || { echo "$(VENV) is Python $$have, PYTHON=$(PYTHON) is $$want:" \
	  "rm -rf $(VENV) or choose another VENV=" >&2; exit 1; }
	$(VPY) -m pip install -q ".[provider,test,lint]"

# Tests and benchmarks run against a real (non-editable) install: an editable
# install adds an import finder to every interpreter start (~+14 ms a hook).
reinstall: $(VPY)
	$(VPY) -m pip install -q --no-deps --force-reinstall .

run: venv
	$(VENV)/bin/vif-driver replay --in-process --config tests/fixtures/replay/vif-driver.conf tests/fixtures/replay

# The whole system on one machine, from a fresh Debian/Ubuntu one (root): the
# Debian packages the demo uses, installed as .ci/run does when missing
# (Open vSwitch for its throw-away switch, iproute2/ping for the "VMs",
# python3-venv for .venv), then the venv, then `vif-driver demo` (one
# network, traffic, stats) and `vif-driver demo --networks` (isolation).
DEMO_DEBS := openvswitch-switch iproute2 iputils-ping python3-venv

demo:
	@missing=""; for pkg in $(DEMO_DEBS); do \
	    dpkg-query -W -f='$${Status}\n' $$pkg 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
	        echo "make demo: run it as root on Debian/Ubuntu, or install:$$missing" >&2; exit 1; \
	    fi; \
	    echo "make demo: installing$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	        apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	fi
	$(MAKE) --no-print-directory venv
	$(VENV)/bin/vif-driver demo
	$(VENV)/bin/vif-driver demo --networks

# bin/pytest, not `python -m pytest`: the tests import the installed package,
# the same code the hook processes run.
check: venv reinstall
	$(VENV)/bin/pytest

# EL9 hosts run the distribution's python-ovs, often a 3.x with bugs fixed
# only in later point releases (docs/provider.md, "python-ovs versions"):
# the OVN backend's tests (the provider's API suite on OVN included) on the
# oldest release it supports, pip's build (pure Python parser).
OLD_OVS ?= 3.1.7
check-old-ovs: venv
	$(VPY) -m pip install -q "ovs==$(OLD_OVS)"
	$(VPY) -m pip install -q --no-deps --force-reinstall .
	$(VENV)/bin/pytest tests/provider -k ovn

# ruff over the whole tree (tests and bench included), mypy over vif_driver
# as the venv's Python sees it (CI: the Python 3.9 venv).
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# Every bench runs, even after one over its limit; make fails at the end if
# any was. bench/run.py includes cases_ovn.py (plug to ovn-installed on a
# simulated OVN chassis); provider_bench.py --backend ovn is the provider's
# OVN backend next to ovirt-provider-ovn's figures (docs/provider.md).
bench: venv reinstall
	@rc=0; \
	$(VPY) bench/run.py || rc=1; \
	$(VPY) bench/provider_bench.py || rc=1; \
	$(VPY) bench/provider_bench.py --backend ovn --ports 2000 10000 || rc=1; \
	exit $$rc

install:
	$(PYTHON) -m vif_driver.tools.install --destdir "$(DESTDIR)" --interpreter $(HOOK_PYTHON)

# The sdist is Source0 of the RPM spec. setuptools' PEP 517 backend directly:
# no extra tool, and `python -m build` would find the build/ directory here.
dist: $(VPY)
	rm -rf dist
	$(VPY) -c 'from setuptools import build_meta as b; print("dist/" + b.build_sdist("dist"))'

# Debian's rpm has an empty package database: skip the BuildRequires check
# there. %check runs the tests an unprivileged builder can run with the
# venv's interpreter, so the venv needs the test dependencies (`venv`, not
# the bare $(VPY) a fresh clone would otherwise get).
RPMBUILD_FLAGS ?= $(if $(wildcard /etc/debian_version),--nodeps)

rpm: venv dist
	rm -rf rpmbuild
	mkdir -p rpmbuild/SOURCES
	cp dist/vif_driver-$(VERSION).tar.gz rpmbuild/SOURCES/
	rpmbuild -ba $(RPMBUILD_FLAGS) --define "_topdir $(CURDIR)/rpmbuild" \
		--define "vif_test_python $(abspath $(VPY))" rpm/vif-driver.spec
	@ls rpmbuild/RPMS/noarch/*.rpm

clean:
	rm -rf build dist rpmbuild *.egg-info
