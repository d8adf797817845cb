"""Every `format` JSON Schema 2020-12 defines is checked where a schema names it (a call's
input, an action's input): in an lpstudio process, `iri` and `iri-reference` passed any
text, since such processes go without the package jsonschema checks them with (its import
costs seconds). Checked in a fresh interpreter that imports lpstudio first, as `lpstudio
serve` and a job's kernel do (this test process may have imported that package before)."""

from __future__ import annotations

import json
import subprocess
import sys

SCHEMA = {
    "type": "object",
    "properties": {
        "link": {"type": "string", "format": "iri"},
        "ref": {"type": "string", "format": "iri-reference"},
    },
}
GIVEN = [
    {"link": "no scheme"},
    {"ref": "a b"},
    {"link": "https://例え.jp/パス?q=é"},
    {"ref": "../データ#é"},
]
CHECK = """
import json, sys
import lpstudio
from lpstudio.jsonschemas import FORMATS, first_problem
schema, given = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(json.dumps({"problems": [first_problem(schema, g) for g in given],
                  "formats": sorted(FORMATS.checkers)}))
"""


def test_an_iri_is_checked_as_json_schema_says_in_an_lpstudio_process() -> None:
    ran = subprocess.run(
        [sys.executable, "-c", CHECK, json.dumps(SCHEMA), json.dumps(GIVEN)],
        capture_output=True,
        text=True,
        check=True,
    )
    said = json.loads(ran.stdout)
    assert said["problems"] == [
        ["link", "\"no scheme\" is not a 'iri'"],
        ["ref", "\"a b\" is not a 'iri-reference'"],
        None,
        None,
    ]
    defined = {
        *("date-time", "date", "time", "duration", "email", "idn-email", "hostname"),
        *("idn-hostname", "ipv4", "ipv6", "uri", "uri-reference", "iri", "iri-reference"),
        *("uuid", "uri-template", "json-pointer", "relative-json-pointer", "regex"),
    }
    assert defined <= set(said["formats"])
