"""The import contracts (pyproject.toml [tool.importlinter], run by scripts/test.sh) cover every
module: a new top-level module of wamc must be given a place in the layers."""

from __future__ import annotations

import tomllib

from tests.support import REPO

# Not in the layers on purpose: the simulator has its own contract (it imports nothing of ours).
OUTSIDE_LAYERS = {"wamc.simulator"}


def contracts() -> dict[str, dict]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {c["id"]: c for c in config["contracts"]}


def top_level_modules() -> set[str]:
    found = set()
    for path in (REPO / "wamc").iterdir():
        if path.suffix == ".py" and path.stem != "__init__":
            found.add(f"wamc.{path.stem}")
        elif path.is_dir() and (path / "__init__.py").exists():
            found.add(f"wamc.{path.name}")
    return found


def layered() -> set[str]:
    names = set()
    for layer in contracts()["layers"]["layers"]:
        names.update(n.strip() for n in layer.replace("|", ":").split(":"))
    return names


def test_every_top_level_module_has_a_layer() -> None:
    modules = top_level_modules()
    assert {"wamc.api", "wamc.daemon", "wamc.wire", "wamc.config"} <= modules
    assert modules - OUTSIDE_LAYERS - layered() == set()
    assert layered() - modules == set(), "a layer names a module that is gone"


def test_wire_and_simulator_are_closed_to_everything_of_ours() -> None:
    layers = layered()
    for cid, own in (("wire", "wamc.wire"), ("simulator", "wamc.simulator")):
        forbidden = set(contracts()[cid]["forbidden_modules"])
        assert (layers | {"wamc.simulator", "workers"}) - {own} - forbidden == set(), cid


def test_workers_may_import_only_the_wire_config_log_and_states() -> None:
    allowed = {"wamc.wire", "wamc.config", "wamc.log", "wamc.states"}
    forbidden = set(contracts()["workers"]["forbidden_modules"])
    assert (layered() | {"wamc.simulator"}) - allowed == forbidden
