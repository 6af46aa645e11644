#!/usr/bin/env python3
"""Writes tests/fixtures/minilm-reference.json: all-MiniLM-L6-v2 vectors computed by sentence-transformers
(the reference implementation), which the real-model test compares SmartCourse's candle embeddings against.

    python3 -m pip install sentence-transformers
    python3 scripts/reference_embeddings.py

Reads the model from models/all-minilm-l6-v2 (fetched by `just models`), offline.
"""

import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from sentence_transformers import SentenceTransformer  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TEXTS = [
    "What is a Python decorator?",
    "A decorator is a function that takes another function and extends its behaviour without changing it.",
    "Photosynthesis turns light, water and carbon dioxide into glucose and oxygen.",
    "The Normans were descended from Norse raiders who settled in northern France in the 10th century.",
    "¿Dónde está la biblioteca? Está al lado de la escuela.",
    "x",
    "Fractions: one half plus one quarter equals three quarters, because 2/4 + 1/4 = 3/4.",
    # Longer than the 256-token window: both implementations must truncate the same way.
    " ".join(["Students learn best when they retrieve what they studied, spaced over days."] * 40),
]

model = SentenceTransformer(str(ROOT / "models" / "all-minilm-l6-v2"), device="cpu")
vectors = model.encode(TEXTS, normalize_embeddings=True, batch_size=4)
out = {
    "model": "all-MiniLM-L6-v2",
    "reference": f"sentence-transformers {__import__('sentence_transformers').__version__}, normalize_embeddings=True",
    "max_seq_length": model.max_seq_length,
    "texts": TEXTS,
    "vectors": [[round(float(x), 7) for x in v] for v in vectors],
}
path = ROOT / "tests" / "fixtures" / "minilm-reference.json"
path.write_text(json.dumps(out) + "\n")
print(f"wrote {path} ({len(TEXTS)} texts, max_seq_length {model.max_seq_length})")
