"""`advisor schema`: the JSON Schemas of the documents advisor writes."""

from __future__ import annotations

import json
from typing import Any

from advisor.errors import BadInputError


def schema_for(name: str) -> dict[str, Any]:
    from probes.schema import SCHEMA_VERSION, Snapshot

    if name == "snapshot":
        doc = Snapshot.model_json_schema()
        doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        doc["$id"] = f"https://local-advisor/schemas/snapshot-{SCHEMA_VERSION}.schema.json"
        return doc
    if name == "result":
        from advisor.results import RESULT_SCHEMA_VERSION, FitResult

        doc = FitResult.model_json_schema()
        doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        doc["$id"] = f"https://local-advisor/schemas/result-{RESULT_SCHEMA_VERSION}.schema.json"
        return doc
    raise BadInputError(f"unknown schema {name!r} (choose from: snapshot, result)")


def print_schema(name: str) -> None:
    from advisor.output import emit_json

    emit_json(json.dumps(schema_for(name), indent=2, sort_keys=True))
