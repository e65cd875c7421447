#!/usr/bin/env python3
"""Validates every example in schemas/examples against its schema (request-*, reply-*, event-*)."""
import json
import pathlib
import sys

import jsonschema

root = pathlib.Path(__file__).resolve().parent.parent / "schemas"
schemas = {name: json.loads((root / f"{name}.schema.json").read_text()) for name in ("request", "reply", "event")}
for schema in schemas.values():
    jsonschema.Draft202012Validator.check_schema(schema)
failures = 0
examples = sorted((root / "examples").glob("*.json"))
for path in examples:
    kind = path.name.split("-")[0]
    try:
        jsonschema.Draft202012Validator(schemas[kind], format_checker=jsonschema.FormatChecker()).validate(json.loads(path.read_text()))
    except jsonschema.ValidationError as e:
        failures += 1
        print(f"{path.name}: {e.message}")
print(f"schemas: {len(examples) - failures}/{len(examples)} examples valid")
sys.exit(1 if failures else 0)
