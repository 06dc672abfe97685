"""POP909's note lengths, performed and as written, against the notated pop lead sheets (issue 26).

``python -m models.training.pop909_lengths [--songs 60] [--sheets 80]`` prints, for the melody track of the first
``songs`` POP909 songs of the style corpus (every third song) and their whole piano texture, the commonest lengths
(quarter notes), inter-onset times and gaps (next onset in the part less the note's end), performed (on the beat,
``style_corpus._pop909_on_the_beat``) and as written (``style_corpus._pop909_written``), and the same for the first
``sheets`` OpenEWLD lead sheets of the pop class. Numbers in docs/benchmarks.md (issue 26, written lengths).
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np

from .style_corpus import _pop909_written, refs


def _next_onset(table) -> np.ndarray:
    """Per note: the next distinct onset of its part after its own (NaN for a part's last onset)."""
    out = np.full(len(table), np.nan)
    for p in np.unique(table.part):
        idx = np.flatnonzero(table.part == p)
        onsets = np.unique(np.round(table.onset_ql[idx], 4))
        j = np.searchsorted(onsets, np.round(table.onset_ql[idx], 4), side="right")
        ok = j < len(onsets)
        out[idx[ok]] = onsets[j[ok]]
    return out


def _row(name: str, tables: list) -> None:
    dur = np.concatenate([t.duration_ql for t in tables])
    nxt = np.concatenate([_next_onset(t) for t in tables])
    on = np.concatenate([t.onset_ql for t in tables])
    gap = (nxt - on - dur)[~np.isnan(nxt)]

    def common(values: np.ndarray) -> str:
        return ", ".join(f"{k:g} ({v / len(values):.0%})" for k, v in Counter(np.round(values, 2)).most_common(6))

    print(f"{name}: {len(dur)} notes; lengths {common(dur)}")
    print(f"    inter-onset {common((nxt - on)[~np.isnan(nxt)])}")
    print(f"    to the next onset (legato) {np.mean(np.abs(gap) < 1e-3):.1%}; a rest of an eighth or more "
          f"{np.mean(gap >= 0.5 - 1e-3):.1%}; a gap under an eighth {np.mean((gap > 1e-3) & (gap < 0.5 - 1e-3)):.1%}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=60)
    parser.add_argument("--sheets", type=int, default=80)
    args = parser.parse_args(argv)
    all_refs = refs()
    songs = [r.load(written=False) for r in [r for r in all_refs if r.source == "pop909"][: args.songs]]  # performed
    sheets = []
    for ref in [r for r in all_refs if r.source == "openewld" and r.style == "pop"][: args.sheets]:
        try:
            sheets.append(ref.load()[-1])
        except Exception:  # noqa: BLE001 - a few OpenEWLD files have a damaged container
            continue
    _row("POP909 melody, performed", [s[1] for s in songs])
    _row("POP909 melody, written", [_pop909_written(s[1]) for s in songs])
    _row("POP909 piano texture, performed", [s[0] for s in songs])
    _row("POP909 piano texture, written", [_pop909_written(s[0]) for s in songs])
    _row("OpenEWLD pop lead sheets", sheets)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
