"""docs/flows.md stays in step with the built-in plugins; their scenario files and the IVR's
menus (the documented one and examples/ivr.toml) load."""

from __future__ import annotations

import re
import tomllib

import pytest

from callbacks.emulator import load_scenario
from callbacks.plugins.loader import load_plugin
from callbacks.plugins.settings import describe_settings, load_settings, read_config_file
from handlers.ivr.menu import IvrSettings
from tests.support import ROOT

DOC = (ROOT / "docs" / "flows.md").read_text()


def section(name: str) -> str:
    match = re.search(rf"^## {name}\n(.*?)(?=^## |\Z)", DOC, re.S | re.M)
    assert match, f"docs/flows.md has no '## {name}' section"
    return match.group(1)


def settings_table(name: str) -> list[str]:
    """The rows of the section's ``| setting | type | default | meaning |`` table."""
    match = re.search(r"^\| setting \| type \| default \| meaning \|\n\|[-|]+\|\n(.*?)(?:\n\n|\Z)",
                      section(name), re.S | re.M)
    assert match, f"docs/flows.md's '## {name}' has no settings table"
    return match.group(1).splitlines()


@pytest.mark.parametrize("name", ["greeting", "reminder", "notify", "ivr"])
def test_every_setting_is_documented_with_its_type_and_default(name: str) -> None:
    plugin = load_plugin(name)
    assert plugin.settings is not None
    rows = {
        cells[0].strip("`"): cells
        for line in settings_table(name)
        if line.startswith("| `")
        for cells in [[c.strip() for c in re.split(r"(?<!\\)\|", line.strip("|"))]]
    }
    for setting in describe_settings(name, plugin.settings):
        assert setting.name in rows, f"{name}.{setting.name} is not in docs/flows.md"
        documented_type = rows[setting.name][1].replace("\\", "")
        default = rows[setting.name][2]
        assert documented_type == setting.type
        expected = "required" if setting.required else (
            "none" if setting.default == "null" else setting.default
        )
        assert default == expected, (name, setting.name)
    assert set(rows) == {s.name for s in describe_settings(name, plugin.settings)}


@pytest.mark.parametrize(
    "scenario", ["greeting.toml", "reminder-flow.toml", "notify.toml", "ivr-callers.toml"]
)
def test_the_scenario_files_load(scenario: str) -> None:
    path = ROOT / "examples" / "scenarios" / scenario
    assert load_scenario(path).callees
    assert scenario in DOC


def test_the_documented_menu_and_the_example_menu_load() -> None:
    block = re.search(r"```toml\n(.*?)```", section("ivr"), re.S)
    assert block is not None
    documented = tomllib.loads(block.group(1))["ivr"]
    assert set(load_settings("ivr", IvrSettings, environ={}, section=documented).menus) == {
        "main", "support",
    }
    example = ROOT / "examples" / "ivr.toml"
    loaded = load_settings("ivr", IvrSettings, environ={},
                           section=read_config_file(example)["ivr"], source=str(example))
    assert "examples/ivr.toml" in DOC and loaded.menus
