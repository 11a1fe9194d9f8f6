"""Issue 13, step 3: would averaging the learned pack's logit with the zero-shot concept pack's
help out of source? Reads `veil-train predict --json` lines of both packs on the same pictures,
laid out as .../valid/<class>/file and .../test/<class>/file, and prints, for each weight of the
concept logit, ROC AUC and recall at <= 5% false positives on each split. Only the validation
split may choose the weight; the test split is there to report it.

    python3 train/bench/concept_ensemble.py learned.jsonl concept.jsonl
"""
import json
import math
import sys


def probabilities(path):
    return {row["file"]: row["verdict"]["flaggedProbability"] for row in map(json.loads, open(path))}


def logit(p):
    p = min(max(p, 1e-7), 1 - 1e-7)
    return math.log(p / (1 - p))


def auc(scores, labels):
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    return sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / len(pos) / len(neg)


def recall_at(scores, labels, fpr=0.05):
    neg = sorted((s for s, y in zip(scores, labels) if not y), reverse=True)
    allowed = math.floor(fpr * len(neg))
    threshold = neg[allowed] if allowed < len(neg) else -math.inf
    pos = [s for s, y in zip(scores, labels) if y]
    return sum(p > threshold for p in pos) / len(pos)


def main(learned_path, concept_path):
    learned, concept = probabilities(learned_path), probabilities(concept_path)
    splits = {split: [f for f in learned if f"/{split}/" in f] for split in ("valid", "test")}
    print("| concept weight | valid ROC AUC | valid recall at <= 5% FPR | test ROC AUC | test recall at <= 5% FPR |")
    print("|---:|---:|---:|---:|---:|")
    for weight in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
        cells = []
        for files in splits.values():
            scores = [(1 - weight) * logit(learned[f]) + weight * logit(concept[f]) for f in files]
            labels = ["/fantasy/" in f for f in files]
            cells += [f"{auc(scores, labels):.3f}", f"{recall_at(scores, labels):.1%}"]
        print(f"| {weight:.1f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(*sys.argv[1:3])
