"""Similar-pieces benchmark: ``python -m tests.bench similar``.

Retrieval on the shipped index (``models/weights/similar_index.npz``): every piece of the style corpus
whose group falls in the style model's piece-disjoint *test* split (never seen in training) is a query;
its 10 nearest entries (other works only: the same group, e.g. another movement of the same mass, is
left out) are relevant when they come from the same collection (same composer or same published
collection: Bach chorales, Palestrina, Essen folk songs, O'Neill/Ryan fiddle tunes, nASAP composer...).
Reported: precision@10 for the style-model embedding, for the standardised hand features (the
descriptors the model also sees: a simpler peer) and for chance (the collection's share of the index).
Also precision@10 of the same *style class*.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from tests.bench._results import save


def _precision(emb: np.ndarray, queries: list[int], groups: list[str], labels: list[str], k: int = 10) -> float:
    unit = emb / (np.linalg.norm(emb, axis=1, keepdims=True) + 1e-9)
    scores = []
    for q in queries:
        sims = unit @ unit[q]
        order = [int(i) for i in np.argsort(-sims) if groups[i] != groups[q] and i != q][:k]
        scores.append(np.mean([labels[i] == labels[q] for i in order]))
    return float(np.mean(scores))


def main() -> None:
    from tutor.compose.similar import load_index
    from tutor.models.training.build_similar_index import collection_of
    from tutor.models.training.style_data import load_piece_features, piece_refs, split_of

    index = load_index()
    n = len(index)
    # hand-feature peer, in the index's order (the corpus entries come first, in piece_refs order)
    hands, styles = [], []
    for ref in piece_refs():
        for piece in load_piece_features(ref):
            hands.append(piece.hand.mean(0))
            styles.append(piece.style)
    corpus = len(hands)
    hand = np.stack(hands)
    hand = (hand - hand.mean(0)) / (hand.std(0) + 1e-6)
    groups = index.groups[:corpus]
    collections = index.collections[:corpus]
    assert collections == [collection_of(g) for g in groups], "index out of date: rebuild it"
    queries = [i for i in range(corpus) if split_of(groups[i]) == "test"]
    counts = Counter(collections)
    chance = float(np.mean([(counts[collections[q]] - 1) / (corpus - 1) for q in queries]))
    results = {
        "index_entries": n,
        "corpus_entries": corpus,
        "queries": len(queries),
        "precision_at_10_collection": {
            "style_embedding": _precision(index.embeddings[:corpus], queries, groups, collections),
            "hand_features": _precision(hand, queries, groups, collections),
            "chance": chance,
        },
        "precision_at_10_style_class": {
            "style_embedding": _precision(index.embeddings[:corpus], queries, groups, styles),
            "hand_features": _precision(hand, queries, groups, styles),
        },
        "per_collection_style_embedding": {
            c: _precision(index.embeddings[:corpus], [q for q in queries if collections[q] == c], groups, collections)
            for c in sorted({collections[q] for q in queries})
        },
    }
    print(results)
    save("similar", results)


if __name__ == "__main__":
    main()
