"""Human views of the catalog and of one ModelSpec."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from advisor.models.spec import ModelSpec
from advisor.units import gib


def params_text(n: int | None) -> str:
    if n is None:
        return "?"
    if n >= 1e9:
        return f"{n / 1e9:.2f} B"
    return f"{n / 1e6:.1f} M"


def render_catalog(rows: list[dict[str, Any]], console: Console, query: str | None) -> None:
    title = f"Catalog models matching {query!r}" if query else "Catalog models"
    table = Table(title=f"{title} ({len(rows)})", title_justify="left")
    for col, justify in (("name", "left"), ("params", "right"), ("active", "right"), ("context", "right"),
                         ("family", "left"), ("kind", "left")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        active = params_text(r["params_active"]) if r["params_active"] != r["params_total"] else ""
        table.add_row(r["name"], params_text(r["params_total"]), active,
                      f"{r['max_context']:,}" if r.get("max_context") else "", r.get("family") or "", r.get("kind") or r["modality"])
    console.print(table)


def render_spec(spec: ModelSpec, console: Console) -> None:
    exact = "exact" if spec.exact else "APPROXIMATE"
    console.print(Text(f"{spec.name}  ({spec.source}: {spec.location or spec.name})", style="bold"))
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("architecture", " / ".join(x for x in (spec.model_type, spec.architecture) if x) or "unknown")
    grid.add_row("modality", spec.modality)
    grid.add_row("parameters", f"{spec.params_total:,} ({params_text(spec.params_total)}, {exact})")
    if spec.params_active != spec.params_total:
        grid.add_row("active", f"{spec.params_active:,} per token ({spec.experts_per_token} of {spec.experts} experts)")
    for group, n in spec.params_by_group.items():
        grid.add_row(f"  {group}", f"{n:,}")
    for group, n in spec.params_not_loaded.items():
        grid.add_row(f"  {group} (not loaded by transformers)", f"{n:,}")
    if spec.layers:
        attn = f"{spec.heads} heads, {spec.kv_heads} KV heads, head dim {spec.head_dim}"
        if spec.mla:
            attn = (f"{spec.heads} heads, MLA latent {spec.mla.kv_lora_rank} + rope {spec.mla.qk_rope_head_dim}")
        grid.add_row("layers", f"{spec.layers}, hidden {spec.hidden_size}, {attn}")
    if spec.sliding_windows:
        local = [w for w in spec.sliding_windows if w is not None]
        grid.add_row("sliding window", f"{len(local)} of {len(spec.sliding_windows)} layers, {local[0]} tokens")
    if spec.vocab_size:
        grid.add_row("vocabulary", f"{spec.vocab_size:,}")
    if spec.max_context:
        grid.add_row("max context", f"{spec.max_context:,} tokens")
    if spec.native_dtype:
        grid.add_row("native dtype", spec.native_dtype)
    if spec.quantization:
        q = spec.quantization
        bits = f" {q.bits:g}-bit" if q.bits else ""
        group = f", group size {q.group_size}" if q.group_size else ""
        grid.add_row("quantization", f"{q.method}{bits}{group}")
    if spec.weight_bytes is not None:
        by = ", ".join(f"{k} {gib(v, 2)}" for k, v in sorted(spec.bytes_by_dtype.items(), key=lambda kv: -kv[1]))
        grid.add_row("weights on disk", f"{gib(spec.weight_bytes, 2)} ({spec.weight_bytes:,} bytes, exact)" + (f": {by}" if by else ""))
    if spec.typical_activation_bytes:
        grid.add_row("typical activations", f"{gib(spec.typical_activation_bytes, 2)} (estimated)")
    if spec.vision:
        v = spec.vision
        size = v.fixed_image_size or v.default_image_size
        a, b, c = v.elements
        per = a + b * size * size + c * size**4
        grid.add_row("vision", f"{v.task} ({v.library}: {v.builder}), {size}x{size}"
                     f"{' only' if v.fixed_image_size else ' by default'}; live activations {per * 4 / 1024**2:,.1f} "
                     "MiB per image in fp32, traced (grows with H x W)")
    if spec.speech:
        s = spec.speech
        grid.add_row("speech", f"encoder {s.encoder_layers} + decoder {s.decoder_layers} layers of {s.d_model}, "
                     f"{s.num_mel_bins} mel bins, 30 s windows of {s.max_source_positions} positions, up to "
                     f"{s.max_target_positions} tokens each")
    if spec.diffusion:
        d = spec.diffusion
        grid.add_row("components", ", ".join(f"{k} {v:,}" for k, v in d.components.items()))
        grid.add_row("diffusion", f"{d.default_resolution}x{d.default_resolution} by default; VAE decodes in "
                     f"{'fp32 (force_upcast)' if d.vae_upcast else 'the pipeline dtype'}, tiles of {d.vae_tile}")
    if spec.estimated:
        grid.add_row("estimated", ", ".join(spec.estimated))
    for note in spec.notes:
        grid.add_row("note", note)
    if spec.citation:
        grid.add_row("source", spec.citation)
    console.print(grid)
