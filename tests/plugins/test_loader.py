"""Plugin discovery and settings: entry points, module:attribute, settings from env and TOML."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from callbacks import Router
from callbacks.plugins.loader import (
    LoadedPlugins,
    Plugin,
    PluginError,
    installed,
    load_plugin,
    load_plugins,
    load_router,
)
from callbacks.plugins.settings import (
    PluginSettings,
    SettingsError,
    describe_settings,
    env_name,
    read_config_file,
)
from handlers.greeting import GreetingSettings
from handlers.notify import NotifySettings
from handlers.reminder import ReminderSettings
from tests.support.settings_plugin import TickSettings

TICKER = "tests.support.settings_plugin:plugin"


def test_the_built_in_plugins_are_installed_under_the_entry_point_group() -> None:
    assert {"greeting", "reminder", "notify"} <= set(installed())
    for name, model in [("greeting", GreetingSettings), ("reminder", ReminderSettings),
                        ("notify", NotifySettings)]:
        plugin = load_plugin(name)
        assert plugin.name == name
        assert plugin.settings is model
        assert plugin.description and "\n" not in plugin.description
        assert plugin.router.routes
    assert load_plugin("greeting").flow is None
    assert load_plugin("reminder").flow is not None and load_plugin("notify").flow is not None


def test_a_plain_router_is_a_plugin_described_by_its_module_docstring() -> None:
    plugin = load_plugin("tests.support.recording_plugin:router")
    assert isinstance(plugin.router, Router)
    assert plugin.name == "tests.support.recording_plugin:router"
    assert plugin.description.startswith("A handler plugin for tests that run the real server")
    assert plugin.settings is None and plugin.flow is None
    assert load_router("tests.support.recording_plugin:router") is plugin.router


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("tests.support.recording_plugin:not_a_router",
         "'tests.support.recording_plugin:not_a_router' is a object, not a callbacks.Router"),
        ("tests.support.recording_plugin:missing",
         "tests.support.recording_plugin has no 'missing'"),
        ("no_such_module_xyz:router", "failed to import: ModuleNotFoundError"),
        ("no-such-plugin", "is not installed (installed: "),
        (":router", "expected module:attribute"),
    ],
)
def test_a_bad_plugin_is_one_error_naming_it(spec: str, message: str) -> None:
    with pytest.raises(PluginError) as caught:
        load_plugin(spec)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_plugin_object_is_checked_when_it_is_made() -> None:
    with pytest.raises(TypeError, match=r"router must be a callbacks\.Router"):
        Plugin("x", object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="settings must be a pydantic model class"):
        Plugin("x", Router(), settings=dict)  # type: ignore[arg-type]


def test_settings_come_from_the_environment_over_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "callbacks.toml"
    config.write_text('[ticker]\naudio_url = "https://f/a.wav"\nrepeats = 3\n'
                      'rooms = ["a", "b"]\n')
    environ = {"CALLBACKS_TICKER_REPEATS": "4", "CALLBACKS_TICKER_TOKEN": "t0ps3cret"}
    loaded = load_plugins([TICKER], environ=environ, config=read_config_file(config),
                          config_name=str(config))
    settings = loaded.settings.of(TickSettings)
    assert settings.audio_url == "https://f/a.wav"  # from the file
    assert settings.repeats == 4  # the environment wins
    assert settings.rooms == ["a", "b"]
    assert settings.token == SecretStr("t0ps3cret")
    assert "t0ps3cret" not in repr(loaded.settings)


def test_list_settings_read_json_from_the_environment() -> None:
    environ = {"CALLBACKS_TICKER_AUDIO_URL": "u", "CALLBACKS_TICKER_ROOMS": '["x", "y"]',
               "CALLBACKS_TICKER_REPEATS": ""}  # empty: unset
    settings = load_plugins([TICKER], environ=environ).settings.of(TickSettings)
    assert settings.rooms == ["x", "y"] and settings.repeats == 2


@pytest.mark.parametrize(
    ("environ", "section", "message"),
    [
        ({}, None, "handler plugin 'ticker': setting audio_url is missing "
                   "(set CALLBACKS_TICKER_AUDIO_URL or use --config)"),
        ({}, {"repeats": 2}, "setting audio_url is missing (set CALLBACKS_TICKER_AUDIO_URL or "
                             "audio_url in [ticker] of conf.toml)"),
        ({"CALLBACKS_TICKER_AUDIO_URL": "u", "CALLBACKS_TICKER_REPEATS": "many"}, None,
         "setting repeats (CALLBACKS_TICKER_REPEATS): Input should be a valid integer"),
        ({}, {"audio_url": "u", "repeats": 9}, "setting repeats ([ticker] repeats in conf.toml): "
                                               "Input should be less than or equal to 5"),
        ({}, {"audio_url": "u", "rooms": ["a", 5]}, "setting rooms[1] "),
        ({}, {"audio_url": "u", "volume": 11}, "unknown setting 'volume' in [ticker] of conf.toml"),
    ],
)
def test_missing_or_invalid_settings_name_the_field_and_not_the_value(
    environ: dict[str, str], section: dict[str, object] | None, message: str
) -> None:
    config = {"ticker": section} if section is not None else None
    name = "conf.toml" if section is not None else None
    with pytest.raises(PluginError) as caught:
        load_plugins([TICKER], environ=environ, config=config, config_name=name)
    assert message in str(caught.value)
    assert "many" not in str(caught.value)


def test_a_secret_setting_is_never_echoed_when_invalid() -> None:
    environ = {"CALLBACKS_TICKER_AUDIO_URL": "u", "CALLBACKS_TICKER_TOKEN": '{"k": "s3cr3t"}'}
    with pytest.raises(PluginError) as caught:
        load_plugins([TICKER], environ=environ)
    assert "setting token (CALLBACKS_TICKER_TOKEN): Input should be a valid string" in str(
        caught.value
    )
    assert "s3cr3t" not in str(caught.value)


def test_plugins_load_in_order_once_each_and_compose_one_router() -> None:
    environ = {"CALLBACKS_TICKER_AUDIO_URL": "u"}
    loaded = load_plugins([TICKER, "tests.support.recording_plugin:router", " "], environ=environ)
    assert [p.name for p in loaded.plugins] == ["ticker", "tests.support.recording_plugin:router"]
    assert [r.name for r in loaded.router.routes] == [
        "tests.support.settings_plugin.seen", "tests.support.recording_plugin.record",
    ]
    assert loaded.flows == {}
    with pytest.raises(PluginError, match="'ticker' is enabled twice"):
        load_plugins([TICKER, TICKER], environ=environ)
    twins = {**environ, "CALLBACKS_TICKER_TWIN_AUDIO_URL": "u"}
    with pytest.raises(PluginError, match="shares its settings model TickSettings"):
        load_plugins([TICKER, "tests.support.settings_plugin:same_settings"], environ=twins)
    assert LoadedPlugins().router.routes == []


def test_a_config_section_for_a_plugin_without_settings_is_an_error() -> None:
    with pytest.raises(PluginError, match=r"'bare' has no settings, but c\.toml has a \[bare\]"):
        load_plugins(["tests.support.settings_plugin:no_settings"], environ={},
                     config={"bare": {"x": 1}}, config_name="c.toml")


def test_a_section_for_a_plugin_not_enabled_is_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    load_plugins([], environ={}, config={"greeting": {"audio_url": "u"}}, config_name="c.toml")
    assert "c.toml: [greeting] configures a plugin that is not enabled" in caplog.text


def test_config_file_errors_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[ticker]\naudio_url = \n")
    with pytest.raises(SettingsError, match=r"broken\.toml is not valid TOML: .*line 2"):
        read_config_file(broken)
    loose = tmp_path / "loose.toml"
    loose.write_text('audio_url = "u"\n')
    with pytest.raises(SettingsError, match="'audio_url' is outside a plugin section"):
        read_config_file(loose)
    with pytest.raises(SettingsError, match=r"cannot read .*missing\.toml"):
        read_config_file(tmp_path / "missing.toml")


def test_settings_are_described_with_type_default_and_variable() -> None:
    described = {s.name: s for s in describe_settings("ticker", TickSettings)}
    assert described["audio_url"].required and described["audio_url"].default is None
    assert described["repeats"].type == "int" and described["repeats"].default == "2"
    assert described["rooms"].type == "list[str]" and described["rooms"].default == "[]"
    assert described["token"].type == "SecretStr | None" and described["token"].default is None
    assert described["repeats"].env == "CALLBACKS_TICKER_REPEATS"
    assert described["repeats"].description == "how often"
    assert env_name("my-plugin", "x") == "CALLBACKS_MY_PLUGIN_X"


def test_plugin_settings_hand_out_instances_by_model() -> None:
    settings = PluginSettings({TickSettings: TickSettings(audio_url="u")})
    assert settings.of(TickSettings).audio_url == "u"
    assert list(settings) == [TickSettings] and len(settings) == 1
    with pytest.raises(LookupError, match="no GreetingSettings loaded"):
        settings.of(GreetingSettings)
    with pytest.raises(TypeError):
        PluginSettings({GreetingSettings: TickSettings(audio_url="u")})
