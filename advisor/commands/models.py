"""`advisor models [QUERY]` and `advisor models show NAME|PATH`."""

from __future__ import annotations

import json
import re
from typing import Any

from advisor.errors import BadInputError
from advisor.models import catalog
from advisor.models.catalog import normalize

MODELS_SCHEMA_VERSION = "1.0"


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9]+", text.lower()) if w]


def _matches(entry: dict[str, Any], query: str, loose: bool) -> bool:
    haystack = [entry["name"], entry.get("family") or "", entry.get("hf_repo") or "", *entry.get("aliases", [])]
    if loose:
        return any(normalize(query) in normalize(h) for h in haystack)
    tokens = _words(query)
    # every query word begins some word of one name: "qwen3" finds Qwen3-8B but not ...-Qwen-32B
    return any(all(any(w.startswith(t) for w in _words(h)) for t in tokens) for h in haystack)


def catalog_rows(query: str | None) -> list[dict[str, Any]]:
    chosen = [e for e in catalog.entries() if not query or _matches(e, query, loose=False)]
    if query and not chosen:
        chosen = [e for e in catalog.entries() if _matches(e, query, loose=True)]
    rows = []
    for entry in chosen:
        spec = catalog.spec_for(entry["name"])
        rows.append({"name": spec.name, "family": spec.family if entry.get("kind") == "other" else entry.get("family"),
                     "params_total": spec.params_total, "params_active": spec.params_active, "exact": spec.exact,
                     "max_context": spec.max_context, "modality": spec.modality, "kind": spec.kind,
                     "hf_repo": entry.get("hf_repo"), "aliases": entry.get("aliases", []),
                     "featured": bool(entry.get("featured"))})
    return rows


def run_models(words: list[str], json_out: bool, fmt: str = "rich") -> None:
    from advisor.output import console, emit_json

    if fmt not in ("rich", "tsv", "json"):
        raise BadInputError(f"--format: unknown format {fmt!r} (choose from rich, tsv, json)")
    if words and words[0] == "show":
        if len(words) != 2:
            raise BadInputError("usage: advisor models show NAME|PATH (one model)")
        from advisor.models.resolve import resolve

        spec = resolve(words[1])
        if json_out:
            emit_json(json.dumps({"schema_version": MODELS_SCHEMA_VERSION, "model": spec.model_dump(mode="json")}, indent=2))
            return
        from advisor.render.model_view import render_spec

        render_spec(spec, console())
        return
    query = " ".join(words) or None
    rows = catalog_rows(query)
    if json_out:
        emit_json(json.dumps({"schema_version": MODELS_SCHEMA_VERSION, "query": query, "models": rows}, indent=2))
        return
    if not rows:
        suggestions = catalog.near(query or "")
        raise BadInputError(f"no catalog model matches {query!r}" + (f"; closest: {', '.join(suggestions)}" if suggestions else ""))
    if fmt == "tsv":
        keys = list(rows[0])
        import sys

        sys.stdout.write("\t".join(keys) + "\n")
        for row in rows:
            cells = (", ".join(map(str, v)) if isinstance(v, list) else "" if v is None else str(v) for v in
                     (row[k] for k in keys))
            sys.stdout.write("\t".join(c.replace("\t", " ") for c in cells) + "\n")
        return
    from advisor.render.model_view import render_catalog

    render_catalog(rows, console(), query)
