"""Each resolver on real small files the tests write, and every bad input as one clear error."""

from __future__ import annotations

import json
import math
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from advisor.cli import app
from advisor.errors import BadInputError
from advisor.models.count import count_config
from advisor.models.gguf_file import read_gguf
from advisor.models.resolve import UnknownModelError, resolve
from advisor.models.safetensors_header import read_header, write_safetensors
from tests.model_files import TINY_LLAMA, write_gguf, write_hf_cache, write_model_dir, write_torch_zip

runner = CliRunner()
TINY_PARAMS = count_config(TINY_LLAMA, "tiny").total
# embed 100*64 + 2 layers x (q 64*64 + k,v 2*32*64 + o 64*64 + mlp 3*64*128 + 2 norms 64) + norm 64 + head 100*64
assert TINY_PARAMS == 6400 + 2 * (4096 + 4096 + 4096 + 24576 + 128) + 64 + 6400


def test_directory_with_config_and_safetensors(tmp_path):
    d = write_model_dir(tmp_path / "tiny")
    spec = resolve(str(d))
    assert spec.source == "directory" and spec.exact
    assert spec.params_total == TINY_PARAMS
    assert spec.weight_bytes == TINY_PARAMS * 2  # every tensor BF16
    assert spec.bytes_by_dtype == {"BF16": TINY_PARAMS * 2}
    assert (spec.layers, spec.kv_heads, spec.head_dim) == (2, 2, 16)
    assert spec.native_dtype == "bfloat16"
    assert spec.notes == []


def test_sharded_directory_reads_the_index(tmp_path):
    d = write_model_dir(tmp_path / "sharded", shards=3)
    spec = resolve(str(d))
    assert spec.weight_bytes == TINY_PARAMS * 2


def test_missing_shard_is_noted(tmp_path):
    d = write_model_dir(tmp_path / "sharded", shards=3)
    (d / "model-00002-of-00003.safetensors").unlink()
    spec = resolve(str(d))
    assert "1 of 3 shards listed in the index are not present" in spec.notes[0]


def test_quantized_checkpoint_config(tmp_path):
    cfg = dict(TINY_LLAMA, quantization_config={"quant_method": "gptq", "bits": 4, "group_size": 128, "desc_act": False})
    d = tmp_path / "gptq"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(cfg))
    spec = resolve(str(d))
    assert spec.quantization is not None
    assert (spec.quantization.method, spec.quantization.bits, spec.quantization.group_size) == ("gptq", 4, 128)
    bnb = dict(TINY_LLAMA, quantization_config={"load_in_4bit": True, "bnb_4bit_quant_type": "nf4"})
    (d / "config.json").write_text(json.dumps(bnb))
    q = resolve(str(d)).quantization
    assert q is not None and (q.method, q.bits, q.details["bnb_4bit_quant_type"]) == ("bitsandbytes", 4, "nf4")


def test_single_safetensors_without_config(tmp_path):
    from tests.model_files import tiny_llama_tensors

    f = tmp_path / "lonely.safetensors"
    write_safetensors(f, tiny_llama_tensors())
    spec = resolve(str(f))
    assert spec.source == "safetensors" and not spec.exact
    assert spec.params_total == TINY_PARAMS and spec.weight_bytes == TINY_PARAMS * 2
    assert (spec.layers, spec.vocab_size, spec.hidden_size) == (2, 100, 64)
    assert "params_total (stored elements, no config)" in spec.estimated


def test_safetensors_beside_config_is_exact(tmp_path):
    d = write_model_dir(tmp_path / "m")
    spec = resolve(str(d / "model.safetensors"))
    assert spec.source == "safetensors" and spec.exact and spec.params_total == TINY_PARAMS


def test_gguf_file(tmp_path):
    spec = resolve(str(write_gguf(tmp_path / "tiny.Q8_0.gguf")))
    assert spec.source == "gguf" and spec.exact
    # token_embd 100x64 F16, 2 x attn_q 64x64 Q8_0, 2 x norm 64 F32, output 100x64 Q8_0
    assert spec.params_total == 6400 + 2 * 4096 + 2 * 64 + 6400
    assert spec.bytes_by_dtype == {"F16": 12800, "Q8_0": 2 * 4352 + 100 * 68, "F32": 2 * 256}
    assert spec.weight_bytes == sum(spec.bytes_by_dtype.values())
    assert (spec.model_type, spec.layers, spec.kv_heads, spec.max_context, spec.vocab_size) == ("llama", 2, 2, 4096, 100)
    assert spec.quantization is not None and spec.quantization.details["file_type"] == "MOSTLY_Q8_0"
    assert spec.params_by_group == {"embeddings": 6400, "attention": 8192, "norms": 128, "lm_head": 6400}


def test_hf_cache_repo_id(tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    write_hf_cache(cache, "acme/tiny-llama")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    spec = resolve("acme/tiny-llama")
    assert spec.source == "hf-cache" and spec.name == "acme/tiny-llama"
    assert spec.params_total == TINY_PARAMS and spec.weight_bytes == TINY_PARAMS * 2


def test_hf_cache_config_only(tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    write_hf_cache(cache, "acme/tiny-llama", with_weights=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    spec = resolve("acme/tiny-llama")
    assert spec.weight_bytes is None and "no weight files here" in spec.notes[0]


def test_uncached_repo_id_falls_back_to_catalog(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    spec = resolve("Qwen/Qwen2.5-7B-Instruct")
    assert spec.source == "catalog" and spec.params_total == 7_615_616_512


@pytest.mark.parametrize("name", ["Llama-3.1-8B-Instruct", "llama3.1:8b", "LLAMA 3.1 8B", "meta-llama/Llama-3.1-8B-Instruct"])
def test_catalog_names_and_aliases(name):
    spec = resolve(name)
    assert spec.name == "Llama-3.1-8B-Instruct" and spec.params_total == 8_030_261_248 and spec.exact


def test_approximate_name():
    spec = resolve("GPT-3 175B")
    assert spec.source == "name-size" and not spec.exact
    assert spec.params_total == 175_000_000_000
    assert "params_total" in spec.estimated and spec.notes[0].startswith("APPROXIMATE")
    moe = resolve("my-mixture-4x7b")
    assert (moe.params_total, moe.params_active) == (28_000_000_000, 14_000_000_000)


def test_unknown_model_suggests_neighbours():
    with pytest.raises(UnknownModelError) as info:
        resolve("lama-3.1-instruct")
    assert "Llama-3.1-8B-Instruct" in info.value.suggestions


def test_pickle_directory_reads_zip_sizes(tmp_path):
    d = tmp_path / "old"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(TINY_LLAMA))
    write_torch_zip(d / "pytorch_model.bin", [1000, 2345])
    spec = resolve(str(d))
    assert spec.weight_bytes == 3345
    assert "not unpickled" in spec.notes[0]


def test_legacy_pickle_cannot_tell(tmp_path):
    d = tmp_path / "legacy"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(TINY_LLAMA))
    (d / "pytorch_model.bin").write_bytes(b"\x80\x02}q\x00.")
    spec = resolve(str(d))
    assert spec.weight_bytes is None and "cannot be told without unpickling" in spec.notes[0]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: (p / "config.json").write_text("{not json"), "config.json: not valid JSON (line 1, column 2"),
        (lambda p: (p / "config.json").write_text("[1]"), "config.json: expected a JSON object"),
        (lambda p: (p / "config.json").write_text('{"model_type": "llama"}'), "needs a positive integer hidden_size"),
        (lambda p: None, "no config.json here (not a model directory)"),
    ],
)
def test_bad_directories(tmp_path, make, message):
    d = tmp_path / "m"
    d.mkdir()
    make(d)
    with pytest.raises(BadInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve(str(d))


def safetensors_bytes(header: bytes, data: bytes = b"", length: int | None = None) -> bytes:
    return struct.pack("<Q", len(header) if length is None else length) + header + data


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x01\x02", "too short to be a safetensors file"),
        (safetensors_bytes(b"{}", length=1 << 40), "header length 1099511627776 bytes is absurd"),
        (safetensors_bytes(b"{}", length=500), "truncated (header says 500 bytes"),
        (safetensors_bytes(b"\xff\xfe"), "header is not valid JSON"),
        (safetensors_bytes(b"[]"), "header is not a JSON object"),
        (safetensors_bytes(b'{"w": {"dtype": "Q9", "shape": [2], "data_offsets": [0, 4]}}', b"\0" * 4), "unknown dtype 'Q9'"),
        (safetensors_bytes(b'{"w": {"dtype": "F16", "shape": [-2], "data_offsets": [0, 4]}}', b"\0" * 4), "shape must be"),
        (safetensors_bytes(b'{"w": {"dtype": "F16", "shape": [2], "data_offsets": [0, 400]}}', b"\0" * 4),
         "fall outside the 4-byte data area"),
        (safetensors_bytes(b'{"w": {"dtype": "F16", "shape": [3], "data_offsets": [0, 4]}}', b"\0" * 4),
         "4 bytes stored, shape [3] of F16 needs 6"),
    ],
)
def test_hostile_safetensors(tmp_path, content, message):
    f = tmp_path / "bad.safetensors"
    f.write_bytes(content)
    with pytest.raises(BadInputError) as info:
        resolve(str(f))
    assert str(info.value).startswith(str(f)) and message in str(info.value), str(info.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"GGML" + b"\0" * 20, "not a GGUF file"),
        (b"GGUF" + struct.pack("<IQQ", 9, 0, 0), "GGUF version 9 is not supported"),
        (b"GGUF" + struct.pack("<IQQ", 3, 1 << 40, 0), "absurd header"),
        (b"GGUF" + struct.pack("<IQQ", 3, 1, 1), "malformed GGUF"),
    ],
)
def test_hostile_gguf(tmp_path, content, message):
    f = tmp_path / "bad.gguf"
    f.write_bytes(content)
    with pytest.raises(BadInputError, match=message):
        resolve(str(f))


def test_truncated_real_gguf(tmp_path):
    good = write_gguf(tmp_path / "good.gguf").read_bytes()
    bad = tmp_path / "cut.gguf"
    bad.write_bytes(good[: len(good) // 3])
    with pytest.raises(BadInputError, match="malformed GGUF|truncated GGUF"):
        resolve(str(bad))


def test_pickles_are_never_loaded(tmp_path):
    f = write_torch_zip(tmp_path / "model.pt", [10])
    with pytest.raises(BadInputError, match="never unpickles"):
        resolve(str(f))


def test_empty_name():
    with pytest.raises(BadInputError, match="empty model name"):
        resolve("  ")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300))
def test_fuzz_safetensors_only_our_error(tmp_path, data):
    f = tmp_path / "fuzz.safetensors"
    f.write_bytes(data)
    try:
        read_header(f)
    except BadInputError:
        pass


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300))
def test_fuzz_gguf_only_our_error(tmp_path, data):
    f = tmp_path / "fuzz.gguf"
    f.write_bytes(b"GGUF" + data)
    try:
        read_gguf(f)
    except BadInputError:
        pass


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(["model_type", "hidden_size", "num_hidden_layers", "num_attention_heads",
                                        "vocab_size", "num_key_value_heads", "intermediate_size", "head_dim",
                                        "tie_word_embeddings", "text_config", "num_local_experts"]),
                       st.one_of(st.integers(-3, 4096), st.text(max_size=8), st.none(), st.booleans(),
                                 st.sampled_from(["llama", "qwen2", "mixtral", "gemma3", "bert"]))))
def test_fuzz_config_only_our_error(data):
    try:
        count_config(data, "cfg")
    except BadInputError:
        pass


def test_models_show_cli_for_each_source(tmp_path, monkeypatch):
    d = write_model_dir(tmp_path / "tiny")
    g = write_gguf(tmp_path / "tiny.gguf")
    cache = tmp_path / "hub"
    write_hf_cache(cache, "acme/tiny-llama")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    from tests.model_files import tiny_llama_tensors

    lone = tmp_path / "lone.safetensors"
    write_safetensors(lone, tiny_llama_tensors())
    for target, expect in [(str(d), f"{TINY_PARAMS:,} ("), (str(lone), "APPROXIMATE"), (str(g), "GGUF MOSTLY_Q8_0"),
                           ("acme/tiny-llama", "hf-cache"), ("qwen3:8b", "8,190,735,360"),
                           ("Falcon 180B", "APPROXIMATE: size 180B read from the name")]:
        result = runner.invoke(app, ["models", "show", target])
        assert result.exit_code == 0, result.output
        assert expect in result.stdout, (target, result.stdout)
        as_json = runner.invoke(app, ["models", "show", target, "--json"])
        assert as_json.exit_code == 0
        doc = json.loads(as_json.stdout)
        assert doc["schema_version"] == "1.0" and doc["model"]["params_total"] > 0


def test_models_list_and_search():
    result = runner.invoke(app, ["models", "--json"])
    rows = json.loads(result.stdout)["models"]
    assert len(rows) >= 60
    result = runner.invoke(app, ["models", "qwen3", "--json"])
    names = [r["name"] for r in json.loads(result.stdout)["models"]]
    assert "Qwen3-8B" in names and not any("Distill" in n for n in names)
    result = runner.invoke(app, ["models", "zzzz"])
    assert result.exit_code == 2 and "no catalog model matches 'zzzz'" in result.stderr


def test_models_show_bad_inputs(tmp_path):
    result = runner.invoke(app, ["models", "show", "frobnicator-xl"])
    assert result.exit_code == 2
    assert result.stderr.startswith("advisor: error: unknown model 'frobnicator-xl'")
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"12345678")
    result = runner.invoke(app, ["models", "show", str(bad)])
    assert result.exit_code == 2 and str(bad) in result.stderr and result.stderr.count("\n") == 1
    result = runner.invoke(app, ["models", "show"])
    assert result.exit_code == 2 and "usage: advisor models show" in result.stderr


@pytest.mark.parametrize(
    ("name", "precision", "engine_runs"),
    [
        ("Qwen/Qwen2.5-7B-Instruct-AWQ", "awq-int4", "vllm"),
        ("Qwen/Qwen2.5-7B-Instruct-GPTQ-Int4", "gptq-int4", "vllm"),
        ("Qwen/Qwen2.5-7B-Instruct-GPTQ-Int8", "gptq-int8", "vllm"),
        ("meta-llama/Llama-3.1-8B-Instruct-FP8", "fp8", "vllm"),
        ("unsloth/Llama-3.1-8B-Instruct-bnb-4bit", "nf4", "transformers"),
        ("llama3.1:8b-instruct-q4_K_M", "Q4_K_M", "llama.cpp"),
        ("hf.co/bartowski/Qwen2.5-7B-Instruct-GGUF:Q5_K_M", "Q5_K_M", "llama.cpp"),
    ],
)
def test_quantized_names_plan_in_their_own_format(name, precision, engine_runs):
    from advisor.models.resolve import resolve
    from rules.plan import Request
    from rules.select import recommend
    from tests.snapshots import rtx4090

    spec = resolve(name)
    assert spec.exact and spec.name == name and spec.pinned_precision == precision
    rec = recommend(spec, rtx4090(), Request())
    assert rec.plan is not None and rec.plan.precision == precision and rec.fits
    assert all(p.precision == precision for p in rec.alternatives)
    assert any(f"this checkpoint is {precision}" in r.reason for r in rec.rejected)
    # the weights are the base model's count in the format: a 4-bit checkpoint is far below bf16
    base = resolve(name.split("/")[-1].rsplit("-", 1)[0]) if "/" in name and ":" not in name else None
    if base is not None and precision in ("awq-int4", "gptq-int4", "nf4"):
        assert rec.plan.memory.weights_bytes < 0.4 * base.params_total * 2


def test_a_gguf_repository_without_a_tag_plans_only_gguf_quants():
    from advisor.models.resolve import resolve
    from rules.plan import Request
    from rules.select import recommend
    from tests.snapshots import rtx4090

    rec = recommend(resolve("bartowski/Qwen2.5-7B-Instruct-GGUF"), rtx4090(), Request())
    assert rec.plan is not None and rec.plan.engine in ("llama.cpp", "ollama")
    assert all(p.engine in ("llama.cpp", "ollama") for p in rec.alternatives)


def test_an_unknown_architecture_with_weights_on_disk_is_counted_from_the_headers(tmp_path):
    from advisor.models.count import count_config
    from advisor.models.resolve import resolve
    from tests.model_files import TINY_LLAMA, write_model_dir

    model = write_model_dir(tmp_path / "m", {**TINY_LLAMA, "model_type": "frobnicator"})
    spec = resolve(str(model))
    # never refused when the bytes are readable: the weights are exact, the KV shape is marked estimated
    assert spec.params_total == count_config(TINY_LLAMA, "x").total and not spec.exact
    assert (spec.layers, spec.kv_heads, spec.head_dim) == (2, 2, 16) and "kv_heads" in spec.estimated
    assert any("safetensors headers" in n for n in spec.notes)
    # without weights there is nothing exact to read: still refused, naming the architecture
    (model / "model.safetensors").unlink()
    with pytest.raises(BadInputError, match="frobnicator"):
        resolve(str(model))


def test_a_quantized_checkpoint_on_disk_is_planned_at_the_bytes_it_stores(tmp_path):
    """A GPTQ 4-bit checkpoint with the AutoGPTQ / GPTQModel layout per linear (qweight int32 [K/8, N], qzeros
    int32 [K/g, N/8], scales fp16 [K/g, N], g_idx int32 [K]; embeddings, head and norms fp16): its plan's weights
    are the file's tensor bytes, not bits per weight times parameters."""
    from advisor.models.safetensors_header import write_safetensors
    from rules.memory import weight_split
    from rules.precisions import BY_NAME
    from tests.model_files import tiny_llama_tensors

    cfg = dict(TINY_LLAMA, torch_dtype="float16",
               quantization_config={"quant_method": "gptq", "bits": 4, "group_size": 32, "desc_act": False})
    g = 32
    tensors: dict[str, tuple[str, list[int]]] = {}
    for name, (_dtype, shape) in tiny_llama_tensors(cfg, "F16").items():
        if name.startswith("model.layers.") and name.endswith("_proj.weight"):
            base = name.removesuffix(".weight")
            n, k = shape
            tensors[base + ".qweight"] = ("I32", [k // 8, n])
            tensors[base + ".qzeros"] = ("I32", [k // g, n // 8])
            tensors[base + ".scales"] = ("F16", [k // g, n])
            tensors[base + ".g_idx"] = ("I32", [k])
        else:
            tensors[name] = ("F16", shape)
    d = tmp_path / "gptq"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(cfg))
    write_safetensors(d / "model.safetensors", tensors)
    stored = sum(4 * math.prod(s) if dt == "I32" else 2 * math.prod(s) for dt, s in tensors.values())
    spec = resolve(str(d))
    assert spec.weight_bytes == stored and spec.pinned_precision is None
    assert weight_split(spec, BY_NAME["gptq-int4"]).total == stored
    # the same model quantized by a rule of bits per weight would be another figure: the stored bytes win
    plain = spec.model_copy(update={"weight_bytes": None})
    assert weight_split(plain, BY_NAME["gptq-int4"]).total != stored
