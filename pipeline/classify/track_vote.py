"""Smooth cell types along tracks: a cell does not flip type frame to frame.

Per track, the types of its frames become piecewise constant: the path of types that agrees with
the most confidence-weighted per-frame calls (weight = type_score; `unknown` calls weigh
`unknown_weight` x their score), under these rules (found exactly by dynamic programming):
- a change of type is allowed only along `transitions` (one-way, e.g. progenitor -> erythroid;
  `unknown` may become any type, a typed cell never becomes `unknown` again);
- a change happens only at a frame whose own call is the new type, and every segment (the
  first one too, unless the track never changes) lasts at least `min_switch_frames` frames;
- a daughter continues its mother's final type unless its own frames support an allowed change
  for `min_switch_frames` frames; a mother's last frames may change type when her daughters'
  first frames (averaged over the daughters) complete the support;
- at the end of the movie (`keep_end_switch`), where no later frame can support a change, a
  change that every remaining frame of the track shows is kept even if shorter;
- reviewed cells (type_source "review") keep their type and steer the path; how far is
  `review_scope`: "from_frame" cuts the track at each reviewed frame, so the frames before it are
  voted on their own evidence and the frames after it continue from the reviewed type (as a
  daughter continues her mother's: kept unless an allowed change is supported) until the next
  reviewed frame; "whole_track" votes the track as one piece, the review steering its earlier
  frames too. A track's first piece starts from its mother's type unless its first frame is
  reviewed.
The per-frame call is kept in `cell_type_frame`; rows whose type the vote changed get
type_source "track-vote" and type_score = the weighted share of the segment's frames that agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from marrowflow.contract import UNKNOWN
from marrowflow.errors import ConfigError, InputError
from marrowflow.schema import as_params, check_choice, config_section, schema_fields

_SWITCH_COST = 1e-6
_REVIEW_GAIN = 1e6
_BATCH = 256  # tracks solved together (memory ~ batch x frames x states)

_schema = schema_fields("classification.track_vote")


@dataclass(frozen=True)
class TrackVoteParams:
    """The config's `classification.track_vote` section (see the module docstring; defaults from
    the schema, which documents each key). `transitions`: type -> the types it may become."""

    SECTION: ClassVar[str] = "classification.track_vote"

    enabled: bool = _schema("enabled")
    min_switch_frames: int = _schema("min_switch_frames")
    transitions: dict[str, list[str]] = _schema("transitions")
    unknown_weight: float = _schema("unknown_weight")
    keep_end_switch: bool = _schema("keep_end_switch")
    review_scope: str = _schema("review_scope")

    def __post_init__(self) -> None:
        if int(self.min_switch_frames) < 1:
            raise ConfigError(f"classification.track_vote.min_switch_frames is {self.min_switch_frames}; "
                              "it must be >= 1")
        check_choice(self.SECTION, "review_scope", self.review_scope)

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> TrackVoteParams:
        """From the `classification.track_vote` section; unknown keys raise ConfigError."""
        return config_section(cls, section)


class _Chain:
    """States (type, run length 1..L, 'no change yet' flag) and the allowed moves between them."""

    def __init__(self, types: list[str], transitions: dict[str, list[str]], min_frames: int):
        self.types, self.L = types, min_frames
        k, L = len(types), min_frames
        self.n = k * L * 2
        s = np.arange(self.n)
        self.kind, self.run, self.first = s // (2 * L), (s // 2) % L + 1, s % 2 == 1
        allowed = np.eye(k, dtype=bool)
        pos = {t: i for i, t in enumerate(types)}
        for src, dsts in transitions.items():
            for dst in dsts:
                if src in pos and dst in pos:
                    allowed[pos[src], pos[dst]] = True
        if UNKNOWN in pos:
            allowed[pos[UNKNOWN], :] = True
        self.allowed = allowed
        move = np.full((self.n, self.n), -np.inf)
        for a in range(self.n):
            ka, ra, fa = self.kind[a], self.run[a], self.first[a]
            stay = (self.kind == ka) & (self.first == fa) & (self.run == min(ra + 1, L))
            move[a, stay] = 0.0
            if ra == L:
                switch = (self.kind != ka) & allowed[ka, self.kind] & (self.run == 1) & ~self.first
                move[a, switch] = -_SWITCH_COST
        self.move = move
        self.can_end = (self.run == L) | self.first

    def start(self, prior: int | None) -> np.ndarray:
        """Log-score of each state at a track's first frame (before its evidence)."""
        v = np.full(self.n, -np.inf)
        if prior is None:
            v[(self.run == 1) & self.first] = 0.0
        else:
            v[(self.kind == prior) & (self.run == self.L) & ~self.first] = 0.0
            v[(self.kind != prior) & self.allowed[prior, self.kind] & (self.run == 1) & ~self.first] = -_SWITCH_COST
        return v

    def best_paths(self, gains: list[np.ndarray], priors: list[int | None]) -> list[np.ndarray]:
        """Type index per frame maximising the summed gain, for several tracks at once.

        gains[i] is (frames_i, types); priors[i] the mother's type index or None.
        """
        n, length = len(gains), np.array([len(g) for g in gains])
        T = int(length.max())
        G = np.zeros((n, T, len(self.types)))
        for i, g in enumerate(gains):
            G[i, :len(g)] = g
        gs = G[:, :, self.kind]  # (tracks, frames, states)
        entering = (self.run == 1) & ~self.first  # states reached by a change of type
        closed = np.where(entering & (gs <= 0), -np.inf, 0.0)
        score = np.stack([self.start(p) for p in priors]) + closed[:, 0] + gs[:, 0]
        back = np.broadcast_to(np.arange(self.n), (n, T, self.n)).copy()
        for t in range(1, T):
            cand = score[:, :, None] + self.move[None] + closed[:, t, None, :]
            best = cand.argmax(axis=1)
            new = np.take_along_axis(cand, best[:, None, :], axis=1)[:, 0] + gs[:, t]
            live = (t < length)[:, None]  # finished tracks keep their score and state
            score = np.where(live, new, score)
            back[:, t] = np.where(live, best, back[:, t])
        state = np.argmax(np.where(self.can_end, score, -np.inf), axis=1)
        path = np.empty((n, T), dtype=np.int64)
        for t in range(T - 1, -1, -1):
            path[:, t] = self.kind[state]
            state = back[np.arange(n), t, state]
        return [path[i, :length[i]] for i in range(n)]


def _generations(parents: dict[int, int]) -> list[list[int]]:
    """Track ids grouped by generation (founders first), so mothers come before daughters."""
    depth: dict[int, int] = {}
    for tid in sorted(parents):
        chain = []
        while tid in parents and tid not in depth and tid not in chain:
            chain.append(tid)
            tid = parents[tid]
        d = depth.get(tid, -1)
        for t in reversed(chain):
            d += 1
            depth[t] = d
    levels: list[list[int]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for tid in sorted(depth):
        levels[depth[tid]].append(tid)
    return levels


def vote_along_tracks(tracks: pd.DataFrame, params: TrackVoteParams | Mapping[str, Any] | None = None
                      ) -> pd.DataFrame:
    """Smooth `cell_type` along tracks (see the module docstring); keeps `cell_type_frame`.

    `tracks`: cells with track_id, frame, cell_type, [type_score, type_source, parent_track_id];
    `params`: the vote's parameters (or the `classification.track_vote` section; None: the
    defaults). Returns a new table.
    """
    need = {"track_id", "frame", "cell_type"}
    if not need <= set(tracks.columns):
        raise InputError(f"track vote needs columns {sorted(need)}; the tracks table has {list(tracks.columns)}")
    vote = as_params(TrackVoteParams, params)
    out = tracks.copy()
    if "cell_type_frame" not in out.columns:
        out["cell_type_frame"] = out["cell_type"]
    if "type_source" not in out.columns:
        out["type_source"] = "rule"
    if "type_score" not in out.columns:
        out["type_score"] = 1.0
    if not vote.enabled or out.empty:
        return out
    per_frame = out["cell_type_frame"].astype(str).to_numpy()
    reviewed = (out["type_source"] == "review").to_numpy()
    per_frame = np.where(reviewed, out["cell_type"].astype(str).to_numpy(), per_frame)
    trans = {str(k): [str(v) for v in vs] for k, vs in vote.transitions.items()}
    types = sorted(set(per_frame) | set(trans) | {v for vs in trans.values() for v in vs} | {UNKNOWN})
    chain = _Chain(types, trans, int(vote.min_switch_frames))
    index_of = {t: i for i, t in enumerate(types)}
    obs = np.array([index_of[t] for t in per_frame])
    score = np.nan_to_num(out["type_score"].to_numpy(dtype=float), nan=0.0).clip(0, 1)
    weight = 0.05 + 0.95 * score  # a call counts even when its margin is small
    weight = np.where(per_frame == UNKNOWN, float(vote.unknown_weight) * weight, weight)
    gain = np.zeros((len(out), len(types)))
    gain[np.arange(len(out)), obs] = np.where(reviewed, _REVIEW_GAIN, weight)
    parent_col = out["parent_track_id"] if "parent_track_id" in out.columns else pd.Series(0, index=out.index)
    pos = np.arange(len(out))
    frames = out["frame"].to_numpy()
    tracked = out["track_id"].notna().to_numpy()  # untracked rows (no track_id) keep their call
    ids = out["track_id"].to_numpy()[tracked]
    groups = pd.Series(pos[tracked], index=pos[tracked]).groupby(ids).groups
    rows_of = {int(t): np.asarray(r) for t, r in groups.items()}
    parents = {int(t): int(p) for t, p in zip(out["track_id"][tracked], parent_col[tracked].fillna(0))}
    voted = obs.copy()
    last_frame = frames.max()
    last_type: dict[int, int] = {}
    ordered_rows = {tid: np.asarray(r)[np.argsort(frames[np.asarray(r)], kind="stable")] for tid, r in rows_of.items()}
    children: dict[int, list[int]] = {}
    for tid, parent in parents.items():
        children.setdefault(parent, []).append(tid)
    no_gain = np.zeros((0, len(types)))
    from_frame = vote.review_scope == "from_frame"
    for level in _generations(parents):
        pieces = []  # (track, its rows of this piece, the type it starts from, whether it ends the track)
        for tid in level:
            mother = last_type.get(parents[tid])
            rows = ordered_rows[tid]
            cuts = _review_cuts(rows, reviewed, obs) if from_frame else [0]
            for a, b in zip(cuts, [*cuts[1:], len(rows)]):
                prior = int(obs[rows[a]]) if from_frame and reviewed[rows[a]] else mother
                pieces.append((tid, rows[a:b], None if prior is None or types[prior] == UNKNOWN else prior,
                               b == len(rows)))
        for start in range(0, len(pieces), _BATCH):
            batch = pieces[start:start + _BATCH]
            gains = [np.vstack([gain[rows], _lookahead([ordered_rows[c] for c in children.get(tid, [])], gain,
                                                       chain.L - 1) if last else no_gain])
                     for tid, rows, _, last in batch]
            for (tid, rows, prior, last), path in zip(batch, chain.best_paths(gains, [b[2] for b in batch])):
                path = path[:len(rows)]
                if last and vote.keep_end_switch and frames[rows[-1]] == last_frame and tid not in children:
                    path = _end_switch(path, obs[rows], chain, prior)
                voted[rows] = path
        for tid in level:
            rows = ordered_rows[tid]
            last_type[tid] = int(voted[rows[-1]])
            _segment_scores(rows, voted[rows], obs, weight, score)
    changed = (voted != obs) & ~reviewed
    out["cell_type"] = np.where(reviewed, out["cell_type"].astype(str), np.array(types, dtype=object)[voted])
    out.loc[changed, "type_source"] = "track-vote"
    out.loc[changed, "type_score"] = score[changed]
    return out


def _review_cuts(rows: np.ndarray, reviewed: np.ndarray, obs: np.ndarray) -> list[int]:
    """Where a track's pieces start (positions in its frame-ordered `rows`): 0, and every reviewed
    frame that does not continue a reviewed frame of the same type just before it."""
    cuts = [0]
    for i in range(1, len(rows)):
        if reviewed[rows[i]] and not (reviewed[rows[i - 1]] and obs[rows[i - 1]] == obs[rows[i]]):
            cuts.append(i)
    return cuts


def _end_switch(path: np.ndarray, calls: np.ndarray, chain: _Chain, prior: int | None) -> np.ndarray:
    """Let the track end on the type its last frames all show when that run is shorter than a
    full switch and the change from the voted type before it (or the mother's) is allowed."""
    run = 1
    while run < len(calls) and calls[-run - 1] == calls[-1]:
        run += 1
    new = calls[-1]
    before = path[-run - 1] if run < len(calls) else prior
    if run >= chain.L or before is None or path[-1] == new:
        return path
    if not chain.allowed[before, new] or (path[-run:] != before).any():
        return path
    out = path.copy()
    out[-run:] = new
    return out


def _lookahead(daughters: list[np.ndarray], gain: np.ndarray, n: int) -> np.ndarray:
    """Mean gain over the daughters of their first `n` frames (fewer where they are shorter)."""
    steps = []
    for k in range(n):
        rows = [d[k] for d in daughters if len(d) > k]
        if not rows:
            break
        steps.append(gain[rows].mean(axis=0))
    return np.array(steps).reshape(len(steps), gain.shape[1])


def _segment_scores(rows: np.ndarray, path: np.ndarray, obs: np.ndarray, weight: np.ndarray,
                    score: np.ndarray) -> None:
    """Write into `score` (at rows whose call the vote changes) the weighted agreement of the
    segment that row belongs to."""
    starts = np.r_[0, np.nonzero(np.diff(path))[0] + 1, len(path)]
    for a, b in zip(starts[:-1], starts[1:]):
        seg = rows[a:b]
        agree = obs[seg] == path[a]
        share = weight[seg][agree].sum() / max(weight[seg].sum(), 1e-12)
        score[seg[~agree]] = share
