#!/usr/bin/env python3
"""Peers for benches/models.rs, measured in the same run on the same machine and thread count.

    python3 benches/peers.py embed TEXTS.json THREADS   -> sentence-transformers (PyTorch CPU) and ONNX Runtime int8
    python3 benches/peers.py llm GGUF PROMPT.json THREADS MAX_TOKENS -> llama.cpp (llama-cpp-python)

Prints one JSON object; a peer whose package is not installed is reported as {"skipped": reason}.
Install: python3 -m pip install sentence-transformers onnxruntime llama-cpp-python
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


def llm(gguf, prompt_path, threads, max_tokens):
    messages = json.loads(Path(prompt_path).read_text())
    try:
        import llama_cpp
    except ImportError as e:
        print(json.dumps({"llama_cpp": {"skipped": str(e)}}))
        return
    m = llama_cpp.Llama(model_path=gguf, n_ctx=2048, n_threads=threads, n_threads_batch=threads, verbose=False)
    t0 = time.perf_counter()
    first = None
    n = 0
    text = ""
    for chunk in m.create_chat_completion(messages=messages, max_tokens=max_tokens, temperature=0.0, stream=True):
        delta = chunk["choices"][0]["delta"].get("content")
        if delta:
            if first is None:
                first = time.perf_counter()
            n += 1
            text += delta
    end = time.perf_counter()
    t = m.timings if hasattr(m, "timings") else None
    print(json.dumps({"llama_cpp": {
        "first_token_ms": (first - t0) * 1000 if first else None,
        "generate_tps": (n - 1) / (end - first) if first and n > 1 else None,
        "tokens": n,
        "text": text,
        "version": llama_cpp.__version__,
    }}))


if __name__ == "__main__":
    if sys.argv[1] == "embed":
        embed(sys.argv[2], int(sys.argv[3]))
    else:
        llm(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
