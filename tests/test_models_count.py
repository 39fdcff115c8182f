"""Exact parameter counts: the development set to the parameter, and the catalog as data."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from advisor.errors import BadInputError
from advisor.models import catalog
from advisor.models.count import count_config

DEV = json.loads((Path(__file__).parent / "data" / "models-dev.json").read_text())["models"]


@pytest.mark.parametrize("entry", DEV, ids=[m["name"] for m in DEV])
def test_dev_set_counts_are_exact(entry):
    assert count_config(entry["config"], entry["name"]).total == entry["true_total_params"]


@pytest.mark.parametrize(
    ("name", "config", "expected"),
    [
        # Published totals of other architectures the counter knows.
        ("pythia-70m", dict(model_type="gpt_neox", hidden_size=512, num_hidden_layers=6, num_attention_heads=8,
                            intermediate_size=2048, vocab_size=50304, tie_word_embeddings=False), 70_426_624),
        ("falcon-7b", dict(model_type="falcon", hidden_size=4544, num_hidden_layers=32, num_attention_heads=71,
                           vocab_size=65024, multi_query=True, parallel_attn=True, bias=False), 6_921_720_704),
        ("phi-2", dict(model_type="phi", hidden_size=2560, intermediate_size=10240, num_hidden_layers=32,
                       num_attention_heads=32, vocab_size=51200, tie_word_embeddings=False), 2_779_683_840),
        ("bert-base-uncased (BertForMaskedLM)", dict(model_type="bert", architectures=["BertForMaskedLM"], hidden_size=768,
                                                     num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                                                     vocab_size=30522, max_position_embeddings=512), 109_514_298),
        ("bert-base (BertModel)", dict(model_type="bert", architectures=["BertModel"], hidden_size=768,
                                       num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                                       vocab_size=30522, max_position_embeddings=512), 109_482_240),
        ("OLMo-2-1124-7B", dict(model_type="olmo2", hidden_size=4096, num_hidden_layers=32, num_attention_heads=32,
                                num_key_value_heads=32, intermediate_size=11008, vocab_size=100352,
                                tie_word_embeddings=False), 7_298_617_344),
        ("gemma-7b", dict(model_type="gemma", hidden_size=3072, num_hidden_layers=28, num_attention_heads=16,
                          num_key_value_heads=16, head_dim=256, intermediate_size=24576, vocab_size=256000), 8_537_680_896),
        ("Qwen1.5-MoE-A2.7B", dict(model_type="qwen2_moe", hidden_size=2048, num_hidden_layers=24, num_attention_heads=16,
                                   num_key_value_heads=16, intermediate_size=5632, moe_intermediate_size=1408,
                                   shared_expert_intermediate_size=5632, num_experts=60, num_experts_per_tok=4,
                                   vocab_size=151936, tie_word_embeddings=False), 14_315_784_192),
    ],
)
def test_other_published_counts(name, config, expected):
    assert count_config(config, name).total == expected


def test_gemma3_multimodal_counts_each_part():
    spec = catalog.spec_for("gemma-3-4b-it")
    assert spec.params_total == 4_300_079_472  # published total of google/gemma-3-4b-it
    assert spec.params_by_group["vision"] == 416_866_032
    assert spec.params_by_group["projector"] == 1152 * 2560 + 1152
    assert spec.modality == "vision-language"


def test_deepseek_v3_mla_moe_and_mtp():
    spec = catalog.spec_for("DeepSeek-V3")
    assert spec.params_total == 671_026_419_200  # "671B total"
    assert 37.0e9 < spec.params_active < 37.6e9  # "37B activated"
    assert 13.0e9 < spec.params_not_loaded["mtp"] < 14.5e9  # "14B of MTP module weights"
    assert spec.mla is not None and (spec.mla.kv_lora_rank, spec.mla.qk_rope_head_dim) == (512, 64)


def test_moe_active_params():
    spec = catalog.spec_for("Mixtral-8x7B-Instruct-v0.1")
    # 32 layers x 2 of 8 experts x 3 x 4096 x 14336 active instead of all 8:
    assert spec.params_total - spec.params_active == 32 * 6 * 3 * 4096 * 14336


def test_sliding_window_layouts():
    gemma2 = catalog.spec_for("gemma-2-9b-it")
    assert gemma2.sliding_windows[:4] == [4096, None, 4096, None]
    gemma3 = catalog.spec_for("gemma-3-12b-it")
    assert gemma3.sliding_windows[:6] == [1024] * 5 + [None]
    mistral = catalog.spec_for("Mistral-7B-v0.1")
    assert set(mistral.sliding_windows) == {4096}
    assert catalog.spec_for("Llama-3.1-8B-Instruct").sliding_windows == []


def test_catalog_is_data_with_sources():
    entries = catalog.entries()
    assert len(entries) >= 60
    for entry in entries:
        assert entry.get("source"), entry["name"]
        spec = catalog.spec_for(entry["name"])
        assert spec.params_total > 0
    kinds = {e.get("kind", "llm") for e in entries}
    assert kinds == {"llm", "other"}
    others = {e["name"] for e in entries if e.get("kind") == "other"}
    assert {"ResNet-50", "YOLOv8n", "YOLOv8x", "stable-diffusion-xl-base-1.0", "clip-vit-large-patch14"} <= others
    # Whisper is stored as its config and counted (kind speech)
    assert catalog.spec_for("whisper-large-v3").kind == "speech"
    assert catalog.spec_for("whisper-large-v3").speech is not None


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"model_type": "llama"}, "needs a positive integer hidden_size"),
        ({"model_type": "llama", "hidden_size": -5, "num_hidden_layers": 2, "num_attention_heads": 2, "vocab_size": 9},
         "config needs a positive integer hidden_size (got -5)"),
        ({"model_type": "rwkv"}, "model_type 'rwkv' is not supported"),
        ({"model_type": "nemotron_h", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
          "vocab_size": 9, "hybrid_override_pattern": 7}, "nemotron_h needs hybrid_override_pattern"),
        ({"model_type": "gpt_oss", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "vocab_size": 9,
          "num_local_experts": "many"}, "config needs a non-negative integer num_local_experts"),
        ({"model_type": "mamba", "hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 9, "state_size": 1 << 30},
         "config needs a positive integer state_size of at most"),
        ({}, "model_type None is not supported"),
    ],
)
def test_bad_configs_name_the_problem(config, message):
    """One clear line for a broken config, never a traceback (a malformed layer-pattern key falls back to the
    architecture's default instead: see test_malformed_pattern_keys_fall_back)."""
    with pytest.raises(BadInputError, match=re.escape(message)):
        count_config(config, "cfg.json")


PUBLISHED = json.loads((Path(__file__).parent / "data" / "models-published.json").read_text())["models"]


def _rounding(figure: int) -> int:
    """Half a unit of the last digit a rounded figure shows: 109B -> 0.5B, 568M -> 0.5M."""
    unit = 10 ** (len(str(figure)) - len(str(figure).rstrip("0")))
    return unit // 2


@pytest.mark.parametrize("entry", PUBLISHED, ids=[m["name"] for m in PUBLISHED])
def test_new_architectures_match_published_totals(entry):
    c = count_config(entry["config"], entry["name"])
    counted = c.total
    if entry["check"] == "total+mtp":
        counted += c.extra["mtp"]
    elif entry["check"] == "total+mxfp4_scales":
        # the Hub counts an MXFP4 expert matrix as its values plus one scale per 32; biases are bf16
        cfg = entry["config"]
        h, inter, experts = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_local_experts"]
        expert_weights = cfg["num_hidden_layers"] * experts * 3 * h * inter
        counted += expert_weights // 32
    elif entry["check"] == "total+position_ids":
        counted += entry["config"]["max_position_embeddings"]
    if entry["exact"]:
        assert counted == entry["published"]
    else:
        assert abs(counted - entry["published"]) <= _rounding(entry["published"])


def test_hybrid_models_keep_kv_only_where_they_attend():
    entry = next(m for m in PUBLISHED if m["name"] == "Qwen3-Next-80B-A3B-Instruct")
    c = count_config(entry["config"], "qwen3-next")
    assert c.kv_layers == tuple(range(3, 48, 4))  # full attention on every 4th layer
    # gated DeltaNet state per layer: conv (2 x 16 x 128 + 32 x 128) x 4 + 32 heads x 128 x 128
    assert c.state_elements == 36 * ((2 * 2048 + 4096) * 4 + 32 * 128 * 128)
    mamba = count_config(next(m for m in PUBLISHED if m["name"] == "mamba-130m-hf")["config"], "mamba")
    assert mamba.kv_layers == () and mamba.state_elements == 24 * (1536 * 4 + 1536 * 16)


def test_gpt_oss_windows_sinks_and_active_experts():
    entry = next(m for m in PUBLISHED if m["name"] == "gpt-oss-20b")
    c = count_config(entry["config"], "gpt-oss")
    assert c.windows[:4] == (128, None, 128, None)
    assert (c.experts, c.experts_per_token) == (32, 4)
    # OpenAI's model card: 3.61B active, counting neither embedding table
    assert abs(c.active - c.groups["embeddings"] - 3.61e9) < 0.005e9


def test_encoders_are_embedding_models():
    entry = next(m for m in PUBLISHED if m["name"] == "bge-m3")
    assert count_config(entry["config"], "bge-m3").kind == "embedding"
    assert count_config(next(m for m in PUBLISHED if m["name"] == "Qwen3-Embedding-8B")["config"], "q").groups.get(
        "lm_head", 0) == 0


@pytest.mark.parametrize(("name", "published"), [
    # torchvision's model docs (weights tables, "Params") and ultralytics' model yaml summaries
    ("resnet18", 11_689_512), ("ResNet-50", 25_557_032), ("mobilenet_v2", 3_504_872), ("vit_b_16", 86_567_656),
    ("efficientnet_b0", 5_288_548), ("YOLOv8n", 3_157_200), ("yolo11n", 2_624_080),
])
def test_vision_catalog_counts_are_the_published_ones(name, published):
    spec = catalog.spec_for(name)
    assert (spec.params_total, spec.exact, spec.kind) == (published, True, "vision")


def test_catalog_covers_the_new_families_offline():
    names = {catalog.spec_for(n).name for n in ("gpt-oss:20b", "llama4:scout", "qwen3-next:80b", "kimi-k2",
                                                 "qwen2.5vl:7b", "glm-4.5-air", "qwen3-embedding:8b", "bge-m3")}
    assert len(names) == 8
    assert catalog.spec_for("qwen3-embedding:8b").kind == "embedding"
    assert catalog.spec_for("gpt-oss-120b").quantization.method == "mxfp4"
    assert len(catalog.entries()) >= 200


def test_malformed_pattern_keys_fall_back():
    cfg = dict(model_type="llama4_text", hidden_size=64, num_hidden_layers=4, num_attention_heads=4, vocab_size=10,
               intermediate_size=32, intermediate_size_mlp=48, num_local_experts=4, num_experts_per_tok=1,
               interleave_moe_layer_step="every other")
    assert count_config(cfg, "x").total == count_config({**cfg, "interleave_moe_layer_step": 1}, "x").total


def test_an_unchecked_architecture_is_approximate_and_says_why(tmp_path):
    """A config of an architecture whose count no published total holds yet: read, counted, labelled approximate."""
    from advisor.models.resolve import resolve
    from rules.select import approximate_reason

    (tmp_path / "config.json").write_text(json.dumps(dict(
        model_type="mamba2", hidden_size=256, num_hidden_layers=2, num_heads=8, head_dim=64, state_size=16,
        n_groups=1, vocab_size=1000)))
    spec = resolve(str(tmp_path))
    assert not spec.exact and "params_total" in spec.estimated
    assert "not yet checked against a published total" in approximate_reason(spec)


def test_mllama_cross_attention_layers_keep_the_image_kv_not_token_kv():
    entry = next(m for m in PUBLISHED if m["name"] == "Llama-3.2-11B-Vision-Instruct")
    c = count_config(entry["config"], "mllama")
    cross = entry["config"]["text_config"]["cross_attention_layers"]
    assert c.kv_layers == tuple(i for i in range(40) if i not in cross) and len(c.kv_layers) == 32
    # per cross-attention layer: K and V (8 heads x 128) of 4 tiles x (40 x 40 patches + a class token)
    assert c.state_elements == 8 * 2 * 8 * 128 * 4 * (40 * 40 + 1)


def test_an_engine_that_does_not_run_an_architecture_says_so():
    from advisor.models import catalog
    from rules.plan import Request
    from rules.select import recommend
    from tests.snapshots import rtx4090

    spec = catalog.spec_for("Llama-3.2-11B-Vision-Instruct")
    rec = recommend(spec, rtx4090(), Request(engine="vllm"))
    assert not rec.fits and any("vLLM does not run mllama" in r.reason for r in rec.rejected)
    best = recommend(spec, rtx4090(), Request())
    assert best.fits and best.plan is not None and best.plan.engine not in ("vllm", "llama.cpp")


def test_whisper_tiny_by_hand():
    # d 384, 80 mel bins, 4 + 4 layers, FFN 1536, vocab 51,865, 1,500 source and 448 target positions
    conv = (80 * 384 * 3 + 384) + (384 * 384 * 3 + 384)
    attention = 4 * 384 * 384 + 3 * 384  # k_proj has no bias
    mlp = 384 * 1536 + 1536 + 1536 * 384 + 384
    encoder = conv + 1500 * 384 + 4 * (attention + mlp + 2 * 768) + 768
    decoder = 448 * 384 + 4 * (2 * attention + mlp + 3 * 768) + 768
    total = encoder + decoder + 51865 * 384  # proj_out is tied to the token embeddings
    assert total == 37_760_640
    assert catalog.spec_for("whisper-tiny").params_total == total


def test_gemma3n_shares_kv_in_its_last_layers_and_counts_each_part():
    spec = catalog.spec_for("gemma-3n-E4B-it")
    assert spec.params_total == 7_849_978_192  # the published safetensors total
    g = spec.params_by_group
    assert g["vision"] == 294_126_912 and g["audio"] == 681_348_640
    assert g["embeddings"] == 262_400 * 2048 + 262_144 * 35 * 256  # embed_tokens and the per-layer table
    # layers 20-34 reuse the KV of layers 18 and 19: 20 layers keep a cache, 4 of them full, 16 sliding (512)
    assert spec.kv_layers == list(range(20))
    kept = [spec.sliding_windows[i] for i in spec.kv_layers]
    assert kept.count(None) == 4 and kept.count(512) == 16
    from rules import engines
    from rules.memory import kv_cache_bytes

    kv = kv_cache_bytes(spec, engines.get("transformers"), 32768, 1, 2)
    assert kv == (4 * 32768 + 16 * 512) * 2 * 2 * 256 * 2


def test_gemma3n_with_an_unknown_vision_tower_says_so():
    cfg = json.loads(json.dumps(next(m for m in PUBLISHED if m["name"] == "gemma-3n-E2B-it")["config"]))
    cfg["vision_config"]["architecture"] = "mobilenetv9_huge"
    with pytest.raises(BadInputError, match="vision tower 'mobilenetv9_huge' has no known size"):
        count_config(cfg, "test")
    cfg = json.loads(json.dumps(next(m for m in PUBLISHED if m["name"] == "gemma-3n-E2B-it")["config"]))
    cfg["text_config"]["intermediate_size"] = [8192] * 3
    with pytest.raises(BadInputError, match="lists 3 widths for 30 layers"):
        count_config(cfg, "test")


def test_phi4mm_counts_its_adapters_towers_and_buffers():
    spec = catalog.spec_for("phi4-multimodal")
    assert spec.params_total == 5_574_460_384  # the Hub's total_size / 2 (bf16)
    g = spec.params_by_group
    # both LoRA adapters on qkv, o, gate_up and down of 32 layers: (256 + 320) x 45,056 x 32
    assert g["lora_adapters"] == (256 + 320) * 45_056 * 32
    # Phi-4-mini's text decoder, to the parameter
    assert sum(g[k] for k in ("embeddings", "attention", "mlp", "norms")) == catalog.spec_for("Phi-4-mini-instruct").params_total
    assert g["vision"] == 428_565_440 and g["audio"] == 441_238_304 + 25_178_112
    assert spec.tower is not None and (spec.tower.side, spec.tower.max_tiles, spec.tower.merge) == (448, 16, 2)


def test_a_malformed_published_config_is_one_clear_error_never_a_crash():
    """Every published config with one to three values swapped for values of the wrong kind (None, strings,
    negatives, lists, dicts, huge numbers): the count either succeeds or refuses with BadInputError."""
    import copy
    import random

    rng = random.Random(3)
    bad = [None, "x", -1, 0, 1.5, [], {}, True, 10**12, [1, 2], [[1]], "7"]

    def paths(d, prefix=()):
        for k, v in d.items():
            yield prefix + (k,)
            if isinstance(v, dict):
                yield from paths(v, prefix + (k,))

    for entry in PUBLISHED:
        keys = list(paths(entry["config"]))
        for _ in range(60):
            cfg = copy.deepcopy(entry["config"])
            for _ in range(rng.randint(1, 3)):
                path = rng.choice(keys)
                node = cfg
                for k in path[:-1]:
                    node = node.get(k) if isinstance(node, dict) else None
                if isinstance(node, dict):
                    node[path[-1]] = rng.choice(bad)
            try:
                count_config(cfg, entry["name"])
            except BadInputError as exc:
                assert entry["name"] in str(exc) and "\n" not in str(exc)
