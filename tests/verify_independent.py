"""An independent measurement for tests/test_verify.py: a process that builds the same model the way a user
would with transformers alone (its own initialisation, no advisor code), runs the same prefill and decode steps,
and prints its peak resident size (getrusage's ru_maxrss) and the model's and cache's bytes as JSON.

Run: python tests/verify_independent.py CONFIG.json DTYPE PROMPT STEPS BATCH
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path


def main() -> None:
    config_path, dtype_name, prompt, steps, batch = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
    import torch
    import transformers

    raw = json.loads(Path(config_path).read_text())
    model_type = raw.pop("model_type")
    for key in ("torch_dtype", "dtype", "transformers_version"):
        raw.pop(key, None)
    config = transformers.AutoConfig.for_model(model_type, **raw)
    model = transformers.AutoModelForCausalLM.from_config(config, dtype=getattr(torch, dtype_name)).eval()
    params = {p.data_ptr(): p.numel() * p.element_size() for p in model.parameters()}
    ids = torch.randint(0, config.vocab_size, (batch, prompt))
    with torch.inference_mode():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=steps + 1,
                             min_new_tokens=steps + 1, do_sample=False, pad_token_id=0, return_dict_in_generate=True)
    cache = out["past_key_values"]
    kv = sum(t.numel() * t.element_size() for layer in cache.layers for t in (layer.keys, layer.values))
    print(json.dumps({"peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                      "param_bytes": sum(params.values()), "kv_bytes": kv, "tokens": int(out.sequences.shape[1])}))


if __name__ == "__main__":
    main()
