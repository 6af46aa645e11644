#!/usr/bin/env python3
"""Peers for benches/models.rs, measured in the same run on the same machine and thread count.

    python3 benches/peers.py embed TEXTS.json THREADS   -> sentence-transformers (PyTorch CPU) and ONNX Runtime int8
    python3 benches/peers.py llm GGUF JOB.json -> llama.cpp (llama-cpp-cffi), JOB = {"prompts": [[token ids]...],
                                                  "threads": N, "max_tokens": N}

Prints one JSON object; a peer whose package is not installed is reported as {"skipped": reason}.
Install: python3 -m pip install sentence-transformers onnxruntime llama-cpp-cffi==0.4.42 cffi
(llama-cpp-cffi: set nothing, this file picks its CPU library and provides the one libstdc++ symbol Debian 12
lacks; a C++ compiler, g++, must be installed.)
"""

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def rate(fn, n_items, repeat=3):
    best = None
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        dt = time.perf_counter() - t
        best = dt if best is None else min(best, dt)
    return n_items / best


def embed(texts_path, threads):
    texts = json.loads(Path(texts_path).read_text())
    out = {}
    try:
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        m = SentenceTransformer(str(ROOT / "models" / "all-minilm-l6-v2"), device="cpu")
        m.encode(texts[:4])
        out["pytorch"] = {
            "batch1": rate(lambda: [m.encode([t], batch_size=1) for t in texts], len(texts)),
            "batch32": rate(lambda: m.encode(texts, batch_size=32), len(texts)),
            "version": f"torch {torch.__version__}",
        }
    except ImportError as e:
        out["pytorch"] = {"skipped": str(e)}
    try:
        import numpy as np
        import onnxruntime as ort
        from tokenizers import Tokenizer

        onnx = ROOT / "models" / "minilm-int8-onnx" / "model.onnx"
        if not onnx.is_file():
            raise ImportError(f"{onnx} missing: python3 scripts/models.py fetch minilm-int8-onnx")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        sess = ort.InferenceSession(str(onnx), opts, providers=["CPUExecutionProvider"])
        tok = Tokenizer.from_file(str(ROOT / "models" / "all-minilm-l6-v2" / "tokenizer.json"))
        tok.enable_truncation(256)
        tok.enable_padding()
        names = [i.name for i in sess.get_inputs()]

        def run(batch):
            enc = tok.encode_batch(batch)
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in names:
                feed["token_type_ids"] = np.zeros_like(ids)
            h = sess.run(None, feed)[0]
            m = mask[..., None].astype(np.float32)
            v = (h * m).sum(1) / m.sum(1)
            return v / np.linalg.norm(v, axis=1, keepdims=True)

        def batched():
            for i in range(0, len(texts), 32):
                run(texts[i : i + 32])

        run(texts[:4])
        out["onnx_int8"] = {
            "batch1": rate(lambda: [run([t]) for t in texts], len(texts)),
            "batch32": rate(batched, len(texts)),
            "version": f"onnxruntime {ort.__version__}",
        }
    except ImportError as e:
        out["onnx_int8"] = {"skipped": str(e)}
    print(json.dumps(out))


CXA_SHIM = r"""
#include <exception>
extern "C" void __cxa_call_terminate(void *) noexcept { std::terminate(); }
"""


def llama_cpp_lib():
    """llama.cpp's C API from the llama-cpp-cffi wheel (a prebuilt CPU library: AVX2/FMA, llamafile sgemm).

    Only its `llama.llama_cpp` module is imported (the package's own __init__ pulls in transformers). On
    Debian 12 the library wants `__cxa_call_terminate` from GCC 14's libstdc++: a two-line shim compiled with
    g++ provides it and is loaded first.
    """
    import ctypes
    import importlib.util
    import subprocess
    import tempfile
    import types

    os.environ.setdefault("LLAMA_CPP_BACKEND", "cpu")
    spec = importlib.util.find_spec("llama")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("llama-cpp-cffi is not installed (python3 -m pip install llama-cpp-cffi==0.4.42 cffi)")
    shim = Path(tempfile.gettempdir()) / "smartcourse-cxa-terminate.so"
    if not shim.exists():
        subprocess.run(["g++", "-shared", "-fPIC", "-x", "c++", "-", "-o", str(shim)],
                       input=CXA_SHIM.encode(), check=True)
    ctypes.CDLL(str(shim), mode=ctypes.RTLD_GLOBAL)
    package = types.ModuleType("llama")
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules["llama"] = package
    from llama import llama_cpp  # noqa: E402

    return llama_cpp.lib, llama_cpp.ffi


def llm(gguf, job_path):
    """The same token ids as SmartCourse reads: one prompt alone, then several at once in one batch per step."""
    job = json.loads(Path(job_path).read_text())
    try:
        lib, ffi = llama_cpp_lib()
    except Exception as e:  # noqa: BLE001 - any failure to load is reported as a skipped peer
        print(json.dumps({"llama_cpp": {"skipped": str(e)}}))
        return
    threads, max_tokens = job["threads"], job["max_tokens"]
    prompts = job["prompts"]
    lib.llama_log_set(lib.llama_cpp_cffi_ggml_log_callback, ffi.NULL)
    lib.llama_backend_init()
    t = time.perf_counter()
    mp = lib.llama_model_default_params()
    model = lib.llama_model_load_from_file(gguf.encode(), mp)
    load_ms = (time.perf_counter() - t) * 1000
    vocab = lib.llama_model_get_vocab(model)
    n_vocab = lib.llama_vocab_n_tokens(vocab)
    n_seq = len(prompts)
    per_seq = max(len(p) for p in prompts) + max_tokens + 8

    def context(seqs):
        cp = lib.llama_context_default_params()
        cp.n_ctx = per_seq * seqs
        cp.n_batch = 512
        cp.n_ubatch = 512
        cp.n_seq_max = seqs
        cp.n_threads = threads
        cp.n_threads_batch = threads
        return lib.llama_init_from_model(model, cp)

    import numpy as np

    def argmax(ctx, i):
        logits = lib.llama_get_logits_ith(ctx, i)
        return int(np.frombuffer(ffi.buffer(logits, n_vocab * 4), dtype=np.float32).argmax())

    def run(ctx, seqs):
        """Reads every prompt (512-token batches, sequences mixed as llama.cpp's server does), then writes one
        token for every sequence per batch. Returns per-sequence first-token times and the tokens written."""
        batch = lib.llama_batch_init(512, 0, 1)
        start = time.perf_counter()
        pending = [(s, i, tok) for s, p in enumerate(seqs) for i, tok in enumerate(p)]
        first = [None] * len(seqs)
        last = [None] * len(seqs)
        written = [[] for _ in seqs]
        while pending:
            chunk, pending = pending[:512], pending[512:]
            batch.n_tokens = 0
            ends = {}
            for s, i, tok in chunk:
                k = batch.n_tokens
                batch.token[k] = tok
                batch.pos[k] = i
                batch.n_seq_id[k] = 1
                batch.seq_id[k][0] = s
                batch.logits[k] = i == len(seqs[s]) - 1
                if batch.logits[k]:
                    ends[s] = k
                batch.n_tokens += 1
            if lib.llama_decode(ctx, batch) != 0:
                raise RuntimeError("llama_decode failed")
            for s, k in ends.items():
                tok = argmax(ctx, k)
                first[s] = time.perf_counter() - start
                written[s].append(tok)
                last[s] = tok
        prompt_s = time.perf_counter() - start
        live = [s for s in range(len(seqs)) if not lib.llama_vocab_is_eog(vocab, last[s])]
        while live:
            batch.n_tokens = 0
            for j, s in enumerate(live):
                batch.token[j] = last[s]
                batch.pos[j] = len(seqs[s]) + len(written[s]) - 1
                batch.n_seq_id[j] = 1
                batch.seq_id[j][0] = s
                batch.logits[j] = True
                batch.n_tokens += 1
            if lib.llama_decode(ctx, batch) != 0:
                raise RuntimeError("llama_decode failed")
            still = []
            for j, s in enumerate(live):
                tok = argmax(ctx, j)
                last[s] = tok
                if lib.llama_vocab_is_eog(vocab, tok):
                    continue
                written[s].append(tok)
                if len(written[s]) < max_tokens:
                    still.append(s)
            live = still
        total = time.perf_counter() - start
        lib.llama_batch_free(batch)
        return first, prompt_s, total, written

    ctx = context(1)
    run(ctx, [prompts[0][:32]])  # warm-up
    lib.llama_free(ctx)
    ctx = context(1)
    first, prompt_s, total, written = run(ctx, [prompts[0]])
    lib.llama_free(ctx)
    n = len(written[0])
    one = {
        "prompt_tokens": len(prompts[0]),
        "prompt_tps": len(prompts[0]) / prompt_s,
        "first_token_ms": first[0] * 1000,
        "generate_tps": (n - 1) / (total - prompt_s) if n > 1 else None,
        "tokens": n,
        "ids": written[0],
    }
    ctx = context(n_seq)
    first, prompt_s, total, written = run(ctx, prompts)
    lib.llama_free(ctx)
    firsts = sorted(f * 1000 for f in first)
    many = {
        "sequences": n_seq,
        "tokens": sum(len(w) for w in written),
        "aggregate_tps": sum(len(w) for w in written) / total,
        "decode_tps": sum(len(w) - 1 for w in written) / (total - prompt_s),
        "p95_first_token_ms": firsts[min(len(firsts) - 1, int(round(0.95 * (len(firsts) - 1))))],
        "total_ms": total * 1000,
    }
    lib.llama_model_free(model)
    print(json.dumps({"llama_cpp": {"load_ms": load_ms, "one": one, "many": many,
                                    "version": "llama-cpp-cffi " + importlib_version("llama-cpp-cffi")}}))


def importlib_version(name):
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:  # noqa: BLE001
        return "?"


if __name__ == "__main__":
    if sys.argv[1] == "embed":
        embed(sys.argv[2], int(sys.argv[3]))
    else:
        llm(sys.argv[2], sys.argv[3])
