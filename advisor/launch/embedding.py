"""Settings to paste for embedding plans (rules/workloads/embedding.py)."""

from __future__ import annotations

from typing import Any

from advisor.launch.common import Context, model_ref
from rules.plan import Plan
from rules.spec import ModelSpec

TORCH_DTYPES = {"fp16": "torch.float16", "bf16": "torch.bfloat16", "fp32": "torch.float32"}


def sentence_transformers(plan: Plan, spec: ModelSpec, ctx: Context) -> dict[str, Any]:
    device = "cuda" if plan.placement == "single-gpu" and ctx.env else ("mps" if plan.placement == "single-gpu"
                                                                         else "cpu")
    python = ("import torch\nfrom sentence_transformers import SentenceTransformer\n"
              f"model = SentenceTransformer({model_ref(spec)!r}, device={device!r}, "
              f"model_kwargs={{\"torch_dtype\": {TORCH_DTYPES.get(plan.precision, 'torch.float32')}}})\n"
              f"model.max_seq_length = {plan.context}\n"
              f"embeddings = model.encode(texts, batch_size={plan.batch})")
    return {"engine": "sentence-transformers", "python": python, "env": ctx.env}


LAUNCHERS = {"sentence-transformers": sentence_transformers}
