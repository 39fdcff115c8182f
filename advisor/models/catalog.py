"""The built-in catalog (package data): lookup by name or alias, insensitive to case and punctuation."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from advisor.models.count import count_config
from advisor.models.spec import ModelSpec, spec_from_counted
from rules.kinds import kind_from_modality
from rules.names import NameIndex, load_package_list
from rules.spec import DiffusionShape, VisionShape


def normalize(name: str) -> str:
    """"Llama-3.1-8B", "llama3.1:8b" and "LLAMA 3.1 8b" all become "llama318b"."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


@lru_cache(maxsize=1)
def entries() -> tuple[dict[str, Any], ...]:
    return load_package_list("advisor", "data/catalog.json", "models")


def _names(entry: dict[str, Any]) -> list[str]:
    repo = entry.get("hf_repo")
    return [entry["name"], *entry.get("aliases", []), *([repo, repo.split("/")[-1]] if repo else [])]


@lru_cache(maxsize=1)
def _index() -> NameIndex:
    return NameIndex(entries(), _names, normalize)


def find(name: str) -> dict[str, Any] | None:
    """The catalog entry for a name, alias or Hugging Face id (also "org/<catalog name>"), or None."""
    found = _index().get(name)
    if found is None and "/" in name:
        found = _index().get(name.rsplit("/", 1)[1])
    return found


def near(name: str, n: int = 3) -> list[str]:
    """Catalog names closest to `name`, best first."""
    return _index().near(name, n, substrings=True)


@lru_cache(maxsize=256)
def spec_for(name: str) -> ModelSpec:
    """The ModelSpec of a catalog entry (counted exactly from its stored config for LLMs), with the size people
    quote for it ("7B") when its name carries one."""
    from advisor.models.sizes import nominal_size

    spec = _spec_for(name)
    nominal = nominal_size(spec.name, spec.params_total)
    return spec.model_copy(update={"nominal_params": nominal}) if nominal else spec


def _spec_for(name: str) -> ModelSpec:
    entry = _index().by_key[normalize(name)]
    citation = entry.get("source")
    if entry.get("kind") == "other":
        exact = bool(entry.get("params_exact"))
        profile = entry.get("activation_profile")
        return ModelSpec(
            name=entry["name"], source="catalog", location=f"catalog:{entry['name']}",
            kind=kind_from_modality(entry.get("modality")),
            family=entry.get("family"), modality=entry.get("modality", "vision"),
            params_total=entry["params"], params_active=entry["params"], exact=exact,
            estimated=(["params_total"] if not exact else []) + (["activations"] if profile else
                                                                 ["typical_activation_bytes"]),
            typical_activation_bytes=None if profile else entry.get("typical_activation_bytes"),
            vision=_vision_shape(entry, profile) if profile else None,
            diffusion=_diffusion_shape(entry) if entry.get("diffusion_profile") else None,
            native_dtype="float32", notes=[] if profile else [n for n in [entry.get("activation_note")] if n],
            citation=citation,
        )
    config = entry["config"]
    counted = count_config(config, f"catalog:{entry['name']}")
    from advisor.models.local import quantization_of

    return spec_from_counted(
        counted, name=entry["name"], source="catalog", location=entry.get("hf_repo") or f"catalog:{entry['name']}",
        model_type=config.get("model_type"), family=entry.get("family"),
        modality="audio" if counted.kind == "speech" else ("vision-language" if "vision" in counted.groups else "text"),
        exact=True,
        native_dtype=config.get("torch_dtype"), quantization=quantization_of(config),
        notes=[n for n in [entry.get("note")] if n], citation=citation,
        kind="embedding" if entry.get("workload") == "embedding" else counted.kind,
    )


def _vision_shape(entry: dict[str, Any], profile: dict[str, Any]) -> VisionShape:
    """A vision entry's traced activation profile (benchmarks/trace_vision.py wrote it)."""
    library = "ultralytics" if "ultralytics" in profile["source"] else "torchvision"
    a, b, c = (float(v) for v in profile["elements_per_image"])
    if library == "torchvision":
        alias = next((a for a in entry.get("aliases", []) if a.startswith("torchvision.models.")), None)
        builder = alias.rsplit(".", 1)[1] if alias else entry["name"].lower().replace("-", "")
    else:
        builder = next((a for a in entry.get("aliases", []) if a.endswith(".pt")), entry["name"].lower() + ".pt")
    return VisionShape(library=library, builder=builder, task=entry.get("task") or "classification",
                       default_image_size=entry.get("default_image_size") or 224,
                       fixed_image_size=profile.get("fixed_image_size"), elements=(a, b, c),
                       traced_max_pixels=max(t["image_size"] ** 2 for t in profile["traced"]),
                       source=profile["source"])


def _diffusion_shape(entry: dict[str, Any]) -> DiffusionShape:
    """A diffusion entry's components and traced stages (benchmarks/trace_diffusion.py wrote them)."""
    profile = entry["diffusion_profile"]
    comps = entry.get("components") or {}
    vae_cfg = (comps.get("vae") or {}).get("config") or {}

    def coef(stage: str) -> tuple[float, float, float]:
        a, b, c = (float(v) for v in profile[stage]["elements_per_image"])
        return a, b, c

    return DiffusionShape(
        components={k: int(v["params"]) for k, v in comps.items() if v.get("params")},
        denoiser=coef("denoiser"), vae_decode=coef("vae_decode"), vae_upcast=bool(vae_cfg.get("force_upcast")),
        vae_tile=int(vae_cfg.get("sample_size") or 512), default_resolution=int(profile["default_resolution"]),
        traced_max_pixels=max(t["resolution"] ** 2 for t in profile["denoiser"]["traced"]),
        repo=entry.get("hf_repo"), source=profile["source"])


def featured() -> list[str]:
    return [e["name"] for e in entries() if e.get("featured")]


def family_of(spec: ModelSpec) -> list[ModelSpec]:
    """Catalog models of the same kind and family as `spec` (or its distills), in catalog order: the smaller
    models the no-fit advice may offer."""
    family = spec.family or ""
    if not family:
        return []
    out = []
    for entry in entries():
        fam = entry.get("family") or ""
        if fam == family or fam.startswith(family + " "):
            other = spec_for(entry["name"])
            if other.kind == spec.kind:
                out.append(other)
    return out
