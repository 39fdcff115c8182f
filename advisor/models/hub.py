"""A Hugging Face repo id that is neither on disk nor in the catalog: read what sizes the model from the Hub,
never its weights, through `huggingface_hub` (the Hub's own client; `HF_ENDPOINT` and `HF_TOKEN` honoured).

What is read: the repo's file list with sizes (`model_info`), its `config.json` (into the Hugging Face cache, so the
next call resolves it from the cache, offline and fast), and for an architecture advisor does not count, the
safetensors headers by HTTP range (`get_safetensors_metadata`: a few KiB per file). Never with `HF_HUB_OFFLINE=1`
or `--offline`. Every call is bounded in time (ADVISOR_HUB_TIMEOUT, default 15 s for the whole resolution).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from advisor.errors import BadInputError
from advisor.models.spec import ModelSpec

DEFAULT_TIMEOUT_S = 15.0
TRUE = ("1", "true", "yes", "on")


class HubUnreachable(BadInputError):
    """The Hub could not be asked (offline, a timeout, no route): the caller may fall back to a guess."""


class NotOnHub(BadInputError):
    """The Hub answered that there is no such repo."""


def offline(env: Mapping[str, str]) -> bool:
    return env.get("HF_HUB_OFFLINE", "").strip().lower() in TRUE


def split_revision(name: str) -> tuple[str, str | None]:
    """ "org/repo@rev" -> ("org/repo", "rev"); a name without "@" has no pinned revision."""
    repo, sep, rev = name.partition("@")
    return (repo, rev or None) if sep else (name, None)


def timeout_s(env: Mapping[str, str]) -> float:
    try:
        value = float(env.get("ADVISOR_HUB_TIMEOUT", DEFAULT_TIMEOUT_S))
    except ValueError:
        return DEFAULT_TIMEOUT_S
    return value if 0.1 <= value <= 600 else DEFAULT_TIMEOUT_S


def resolve_hub(repo_id: str, revision: str | None, env: Mapping[str, str]) -> ModelSpec:
    """The ModelSpec of a Hub repo from its metadata, within the time limit.

    Raises:
        HubUnreachable: offline, timed out or no connection.
        NotOnHub: no such repo (or a private one without a token).
        BadInputError: gated (with what to do), rate-limited, no config.json, a malformed config.
    """
    if offline(env):
        raise HubUnreachable(f"{repo_id}: not on disk or in the catalog, and the Hub is off (HF_HUB_OFFLINE / --offline)")
    limit = timeout_s(env)
    result: list[ModelSpec | BaseException] = []

    def work() -> None:
        try:
            result.append(_fetch(repo_id, revision, env, limit))
        except BaseException as exc:  # noqa: BLE001 - carried to the caller's thread
            result.append(exc)

    worker = threading.Thread(target=work, name="advisor-hub", daemon=True)
    worker.start()
    worker.join(limit)
    if not result:
        raise HubUnreachable(f"{repo_id}: the Hub did not answer within {limit:g} s (ADVISOR_HUB_TIMEOUT; --offline "
                             "skips the Hub)")
    outcome = result[0]
    if isinstance(outcome, BaseException):
        raise _explain(outcome, repo_id, env) from None
    return outcome


def _explain(exc: BaseException, repo_id: str, env: Mapping[str, str]) -> BaseException:
    if isinstance(exc, BadInputError):
        return exc
    kind = type(exc).__name__
    endpoint = (env.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")
    if kind == "GatedRepoError":
        return BadInputError(f"{repo_id}: gated on the Hub: accept its conditions at {endpoint}/{repo_id} and set "
                             "HF_TOKEN (or log in with `hf auth login`)")
    if kind in ("RepositoryNotFoundError", "RevisionNotFoundError"):
        what = "revision" if kind == "RevisionNotFoundError" else "repo"
        return NotOnHub(f"{repo_id}: no such {what} on the Hub (a private repo needs HF_TOKEN)")
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status == 429:
        return BadInputError(f"{repo_id}: the Hub is rate-limiting requests (429); try later or set HF_TOKEN")
    if status is not None and status >= 500:
        return HubUnreachable(f"{repo_id}: the Hub answered {status}; try later or pass --offline")
    if "Timeout" in kind or "Connect" in kind or "Offline" in kind or "LocalEntryNotFound" in kind or kind == "OSError":
        return HubUnreachable(f"{repo_id}: the Hub could not be reached ({kind}); --offline skips it")
    return BadInputError(f"{repo_id}: reading its metadata from the Hub failed ({kind}: {str(exc)[:120]})")


def _fetch(repo_id: str, revision: str | None, env: Mapping[str, str], limit: float) -> ModelSpec:
    from huggingface_hub import HfApi, hf_hub_download

    from advisor.models.count import count_config
    from advisor.models.hf_cache import cache_dir
    from advisor.models.local import native_dtype_of, quantization_of, read_json
    from advisor.models.spec import spec_from_counted

    endpoint = env.get("HF_ENDPOINT") or None
    token: str | bool = env.get("HF_TOKEN") or False
    api = HfApi(endpoint=endpoint, token=token)
    info = api.model_info(repo_id, revision=revision, files_metadata=True, timeout=limit)
    files = {s.rfilename: s.size for s in info.siblings or [] if isinstance(s.rfilename, str)}
    weights = {f: n for f, n in files.items() if f.endswith(".safetensors") and isinstance(n, int)}
    if "config.json" not in files:
        ggufs = sorted(f for f in files if f.endswith(".gguf"))
        if ggufs:
            listed = ", ".join(f"{f} ({size / 1024**3:.1f} GiB)" if (size := files[f]) else f for f in ggufs[:8])
            raise BadInputError(f"{repo_id}: a GGUF repository ({len(ggufs)} files: {listed}); download the quant you "
                                "want and name the .gguf file, or name the repo with :QUANT")
        raise BadInputError(f"{repo_id}: the Hub repo has no config.json (not a transformers model)")
    path = hf_hub_download(repo_id, "config.json", revision=revision, cache_dir=str(cache_dir(env)),
                           etag_timeout=limit, endpoint=endpoint, token=token)
    config = read_json(Path(path))
    source = f"{repo_id} (config.json from the Hub)"
    notes = [f"read from the Hub (revision {info.sha[:12] if info.sha else revision or 'main'}): config.json and the "
             "file list, no weights"]
    try:
        counted = count_config(config, source)
    except BadInputError as exc:
        if "is not supported" not in str(exc):
            raise
        return _from_headers(api, repo_id, revision, config, limit, notes, str(exc))
    quant = quantization_of(config)
    return spec_from_counted(
        counted, name=repo_id if revision is None else f"{repo_id}@{revision}", source="hub", location=repo_id,
        model_type=str(config.get("model_type")), architecture=(config.get("architectures") or [None])[0],
        modality="vision-language" if "vision" in counted.groups else "text", exact=True,
        native_dtype=native_dtype_of(config, []), quantization=quant,
        weight_bytes=sum(weights.values()) or None, notes=notes,
    )


def _from_headers(api: Any, repo_id: str, revision: str | None, config: dict[str, Any], limit: float,
                  notes: list[str], why: str) -> ModelSpec:
    """An architecture advisor does not count: the weights exactly from the safetensors headers (read by HTTP
    range), the shape that the KV cache needs from the config where it says, marked estimated."""
    from advisor.models.local import config_shape

    meta = api.get_safetensors_metadata(repo_id, revision=revision, timeout=limit)
    by_dtype = {str(k): int(v) for k, v in (meta.parameter_count or {}).items()}
    total = sum(by_dtype.values())
    if total <= 0:
        raise BadInputError(f"{repo_id}: {why}, and its safetensors headers hold no tensors")

    shape = config_shape(config)
    estimated = ["params_active", "layers", "heads", "kv_heads", "head_dim", "max_context"]
    return ModelSpec(
        name=repo_id if revision is None else f"{repo_id}@{revision}", source="hub", location=repo_id,
        model_type=str(config.get("model_type")), params_total=total, params_active=total, exact=False,
        estimated=estimated, **shape,
        native_dtype=config.get("torch_dtype") if isinstance(config.get("torch_dtype"), str) else None,
        notes=[*notes, f"APPROXIMATE: {why}; the weights ({total:,} parameters) are exact from the safetensors headers, "
                       "the attention shape (KV cache) is read from the config where it says"],
    )
