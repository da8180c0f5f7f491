"""The IVR of ``tests/handlers/test_ivr.py``: its menus (TOML, as ``--config`` reads them) and
the scripted callers of the emulator, one per branch."""

from __future__ import annotations

IVR = "+14250000000"
COGNITIVE = "https://contoso.cognitiveservices.azure.com/"
SALES, AGENT, BILLING = "+14259990001", "8:acs:resource_agent", "8:acs:resource_billing"
VOICEMAIL = "https://media.example/leave-a-message.wav"
IVR_TOML = f"""
[ivr]
cognitive_services_endpoint = "{COGNITIVE}"
numbers = ["{IVR}"]
input_timeout = 5
retries = 2
retry_message = {{ text = "Sorry, I did not get that." }}
fallback = {{ action = "voicemail", message = "{VOICEMAIL}", max_length = 20 }}

[ivr.menus.main]
prompt = {{ text = "Sales 1, support 2, hours 3, news 4, agent 0, goodbye 9." }}

[[ivr.menus.main.options]]
key = "1"
phrases = ["sales"]
action = "transfer"
to = "{SALES}"

[[ivr.menus.main.options]]
key = "2"
phrases = ["support", "help"]
action = "menu"
menu = "support"

[[ivr.menus.main.options]]
key = "3"
phrases = ["hours"]
action = "play"
message = "https://media.example/hours.wav"

[[ivr.menus.main.options]]
key = "4"
phrases = ["news"]
action = "play"
message = "https://media.example/news.wav"
then = "menu"

[[ivr.menus.main.options]]
key = "0"
phrases = ["agent", "operator"]
action = "transfer"
to = "{AGENT}"
message = {{ text = "Connecting you to an agent." }}

[[ivr.menus.main.options]]
key = "9"
phrases = ["goodbye"]
action = "hangup"
message = "https://media.example/bye.wav"

[[ivr.menus.main.options]]
key = "8"
phrases = ["broken"]
action = "menu"
menu = "broken"

[ivr.menus.broken]
prompt = "https://media.example/menu.txt"
options = [{{ key = "1", action = "hangup", message = "https://media.example/bye.wav" }}]

[ivr.menus.support]
prompt = "https://media.example/support.wav"

[[ivr.menus.support.options]]
key = "1"
phrases = ["billing", "invoice"]
label = "Billing"
action = "transfer"
to = "{BILLING}"

[[ivr.menus.support.options]]
key = "2"
phrases = ["message"]
action = "voicemail"
message = "{VOICEMAIL}"
max_length = 20

[[ivr.menus.support.options]]
key = "*"
phrases = ["back"]
action = "menu"
menu = "main"
"""
(KEYS_SALES, SAYS_SUPPORT, AGENT_DECLINES, SILENT, WRONG_INPUT, POUND, HANGS_UP_RECORDING,
 HANGS_UP_MENU, NEWS_THEN_BYE, HOURS, KILLED, BROKEN) = (f"+1425111{n:04d}" for n in range(1, 13))
SCENARIO = {
    "default": {"answer": True},
    "callees": [
        {"match": KEYS_SALES, "recognize": [{"tones": "1"}]},
        {"match": SAYS_SUPPORT, "recognize": [{"say": "help"}, {"choice": "Billing"}]},
        {"match": AGENT_DECLINES, "recognize": [{"say": "agent"}]},
        {"match": AGENT, "answer": "decline"},
        {"match": SILENT},
        {"match": WRONG_INPUT, "recognize": [{"tones": "7"}, {"say": "pizza"}, {"tones": "3"}]},
        {"match": POUND, "recognize": [
            {"tones": "2"}, {"tones": "2"}, {"tones": "5"}, {"tones": "#", "delay": 0.1},
        ]},
        {"match": HANGS_UP_RECORDING, "recognize": [{"tones": "2"}, {"tones": "2"}],
         "hang_up": {"after_prompt": 3, "delay": 0.1}},
        {"match": HANGS_UP_MENU, "hang_up": {"during_prompt": 1, "delay": 0.01}},
        {"match": NEWS_THEN_BYE, "recognize": [{"say": "news"}, {"tones": "9"}]},
        {"match": HOURS, "recognize": [{"tones": "3"}]},
        {"match": KILLED, "recognize": [{"silent": True}, {"tones": "1"}]},
        {"match": BROKEN, "recognize": [{"tones": "8"}]},
    ],
}
