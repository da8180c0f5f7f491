"""docs/flows.md stays in step with the built-in plugins; their scenario files load."""

from __future__ import annotations

import re

import pytest

from callbacks.emulator import load_scenario
from callbacks.plugins.loader import load_plugin
from callbacks.plugins.settings import describe_settings
from tests.support import ROOT

DOC = (ROOT / "docs" / "flows.md").read_text()


def section(name: str) -> str:
    match = re.search(rf"^## {name}\n(.*?)(?=^## |\Z)", DOC, re.S | re.M)
    assert match, f"docs/flows.md has no '## {name}' section"
    return match.group(1)


@pytest.mark.parametrize("name", ["greeting", "reminder", "notify"])
def test_every_setting_is_documented_with_its_type_and_default(name: str) -> None:
    plugin = load_plugin(name)
    assert plugin.settings is not None
    rows = {
        cells[0].strip("`"): cells
        for line in section(name).splitlines()
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


@pytest.mark.parametrize("scenario", ["greeting.toml", "reminder-flow.toml", "notify.toml"])
def test_the_scenario_files_load(scenario: str) -> None:
    path = ROOT / "examples" / "scenarios" / scenario
    assert load_scenario(path).callees
    assert scenario in DOC
