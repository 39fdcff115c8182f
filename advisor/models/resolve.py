"""Resolve whatever a user names into a ModelSpec, trying each resolver in order.

a. a directory with config.json; b. a .safetensors file; c. a .gguf file; d. a Hugging Face repo id in the
local cache; e. the built-in catalog; f. the size written in the name (approximate).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from advisor.errors import BadInputError
from advisor.models import catalog
from advisor.models.spec import ModelSpec

MAX_NAME = 1024  # a path or a repo id; longer is not a model name


class UnknownModelError(BadInputError):
    """Nothing resolved the name; carries the closest catalog names."""

    def __init__(self, name: str, suggestions: list[str], hub: str | None = None) -> None:
        hint = f"; closest catalog models: {', '.join(suggestions)}" if suggestions else ""
        shown = name if len(name) <= 80 else name[:80] + "..."
        where = f" ({hub.split(': ', 1)[-1]})" if hub else ""
        super().__init__(f"unknown model {shown!r}: not a file, not a cached Hugging Face repo, not in the catalog, "
                         f"not on the Hub{where}{hint}" if hub else
                         f"unknown model {shown!r}: not a file, not a cached Hugging Face repo, not in the catalog{hint}")
        self.suggestions = suggestions


def resolve(name: str, env: Mapping[str, str] | None = None) -> ModelSpec:
    """Resolve `name`, and note the size people quote for it when the name carries one (see `_resolve`)."""
    spec = _resolve(name, env)
    if spec.nominal_params is None:
        from advisor.models.sizes import nominal_size

        nominal = nominal_size(spec.name, spec.params_total)
        if nominal is not None:
            spec = spec.model_copy(update={"nominal_params": nominal})
    return spec


def _resolve(name: str, env: Mapping[str, str] | None = None) -> ModelSpec:
    """Resolve `name` (a path, a repo id, a catalog name or alias, or a name with a size).

    Raises:
        BadInputError: an empty name, or a file that is malformed (naming the file and the problem).
        UnknownModelError: nothing matched; it names the closest catalog entries.
    """
    from advisor.models.local import PICKLE_SUFFIXES, resolve_directory, resolve_gguf, resolve_safetensors

    name = name.strip()
    if not name:
        raise BadInputError("empty model name")
    if len(name) > MAX_NAME:
        raise BadInputError(f"model name of {len(name):,} characters is too long (at most {MAX_NAME}): "
                            f"{name[:40]!r}...")
    if "\0" in name:
        raise BadInputError("model name holds a NUL character")
    path = Path(name).expanduser()
    if path.is_dir():
        return resolve_directory(path)
    if path.suffix in (".safetensors", ".gguf"):
        if not path.exists():
            raise BadInputError(f"{path}: no such file")
        if not path.is_file():  # a FIFO, a device, a socket: say which, and never open it blocking
            from advisor.bounded import open_regular

            open_regular(path, path.suffix[1:]).close()
        return resolve_safetensors(path) if path.suffix == ".safetensors" else resolve_gguf(path)
    if path.suffix in PICKLE_SUFFIXES and path.is_file():
        raise BadInputError(f"{path}: a pickle checkpoint; advisor never unpickles files. Name its directory "
                            "(with config.json) instead")
    if path.is_file():
        if path.name == "config.json":
            return resolve_directory(path.parent)
        raise BadInputError(f"{path}: not a model file advisor reads (.safetensors, .gguf, or a directory)")

    from advisor.models.hf_cache import looks_like_repo_id, resolve_cached
    from advisor.models.hub import HubUnreachable, NotOnHub, resolve_hub, split_revision

    repo, rev = split_revision(name)
    if looks_like_repo_id(repo) and (cached := resolve_cached(repo, env, rev)) is not None:
        return cached
    if catalog.find(name) is not None:
        return catalog.spec_for(catalog.find(name)["name"])  # type: ignore[index]
    quantized = _quantized_catalog_model(name)
    if quantized is not None:
        return quantized
    from advisor.models.name_size import spec_from_name

    hub_problem = None
    repo_id, revision = split_revision(name)
    if looks_like_repo_id(repo_id):
        import os

        try:
            return resolve_hub(repo_id, revision, os.environ if env is None else env)
        except (HubUnreachable, NotOnHub) as exc:
            hub_problem = str(exc)
    approx = spec_from_name(name)
    if approx is not None:
        if hub_problem:
            approx = approx.model_copy(update={"notes": [*approx.notes, f"not read from the Hub: {hub_problem}"]})
        return approx
    if hub_problem:
        raise UnknownModelError(name, catalog.near(name), hub_problem)
    raise UnknownModelError(name, catalog.near(name))


def _quantized_catalog_model(name: str) -> ModelSpec | None:
    """A catalog model named with a quantized format ("...-AWQ", "...-GGUF", "llama3.1:8b-instruct-q4_K_M"): the
    base's exact count, in the checkpoint's format."""
    from advisor.models.quant_names import split_quant
    from rules.spec import Quantization

    q = split_quant(name)
    if q is None:
        return None
    entry = catalog.find(q.base)
    if entry is None:
        return None
    base = catalog.spec_for(entry["name"])
    if base.kind != "text-generation" or base.quantization is not None:
        return None
    location = name if "/" in name and not name.lower().startswith("hf.co/") else name
    note = f"{q.how}: weights in {q.precision if q.method != 'gguf' else 'its GGUF files'}; the count is {base.name}'s"
    update: dict[str, object] = {"name": name, "location": location, "notes": [*base.notes, note],
                                 "pinned_precision": q.precision}
    if q.method != "gguf":
        update["quantization"] = Quantization(method=q.method, bits=q.bits, group_size=q.group_size,
                                              details={"from": "name"})
    return base.model_copy(update=update)
