"""Event-level simulation of the streaming pipeline with bounded FIFOs.

Model.  Stages ``S_0 .. S_{n-1}`` are joined by FIFOs ``F_1 .. F_{n-1}``; a source
writes ``S_0``'s input words into ``F_0`` one per cycle and a sink reads ``F_n`` one per
cycle (an ideal DMA, as FINN's rtlsim harness).  Every stage plays its token schedule
(``Stage.steps``: ``(gap, consume, produce)``) frame after frame.  A step happens at the
earliest cycle ``t`` with

* ``t >= t_prev + gap`` (the stage does one step per cycle, compute cycles included);
* if it consumes token k of its input FIFO: ``t >= write_time[k] + 1`` (a word written in
  cycle t is readable in cycle t+1);
* if it produces token k of a FIFO of depth D: ``t >= read_time[k - D] + 1`` (a slot freed
  in cycle t is writable in cycle t+1) — back-pressure.

These are max-plus recurrences over earlier events only, so the simulation computes every
event time exactly once, sweeping the stages and advancing each as far as its known
inputs allow (work proportional to the number of tokens, not of cycles).  With
no back-pressure a stage that is never starved runs its frame in exactly ``cycles()``
cycles, so the steady-state II of the pipeline equals the largest per-stage ``cycles()``
(tested); small FIFOs can make it larger, and the simulation shows by how much.

Results: per-frame completion cycles at the sink (first-frame latency = completion of
frame 0 counted from the first input word at cycle 0), the steady-state II (difference
of the last two completions), the busy span of each stage per frame and the peak
occupancy of every FIFO (what FINN's ``InsertAndSetFIFODepths`` measures to size them).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from itertools import chain, repeat

from .cycles import Stage, check_chain


@dataclass
class SimResult:
    frames: int
    completions: list[int]          # cycle after the sink read the last word of frame f
    first_frame_latency: int
    ii: int                         # steady-state cycles per frame (last two frames)
    stage_first_out: list[int]      # cycle of each stage's first output word
    stage_frame_end: list[list[int]]  # cycle of each stage's last step of frame f, + 1
    fifo_peak: list[int]            # peak occupancy of F_0 .. F_n
    fifo_depths: list[int]
    events: int

    def as_dict(self) -> dict:
        return {"frames": self.frames, "completions": self.completions,
                "first_frame_latency": self.first_frame_latency, "ii": self.ii,
                "fifo_depths": self.fifo_depths, "fifo_peak": self.fifo_peak, "events": self.events}


class _Fifo:
    __slots__ = ("depth", "w", "r")

    def __init__(self, depth: int):
        self.depth = depth
        self.w: list[int] = []
        self.r: list[int] = []


def _frames(steps_fn, frames: int):
    return chain.from_iterable(steps_fn() for _ in range(frames))


def _io_steps(words: int, consume: bool):
    return lambda: repeat((1, consume, not consume), words)


def _paced_source(words: int, frames: int, period: int):
    """Source steps that start frame f at cycle f * period (or later, if blocked)."""
    for f in range(frames):
        yield (1 if f == 0 else max(1, period - words + 1), False, True)
        yield from repeat((1, False, True), words - 1)


def events(stages: list[Stage], frames: int) -> int:
    """Token events the simulation will process (to decide whether it is affordable)."""
    return frames * (stages[0].in_words + sum(s.in_words + s.out_words for s in stages))


def simulate(stages: list[Stage], frames: int = 3, fifo_depths: list[int] | int = 2**31 - 1,
             source_period: int | None = None) -> SimResult:
    """Play ``frames`` frames through ``stages`` with FIFOs of ``fifo_depths`` words
    (one per FIFO ``F_0 .. F_n`` or one for all; the default is unbounded).  The source
    writes as fast as the input FIFO allows, or, with ``source_period``, starts one
    frame every ``source_period`` cycles."""
    if frames < 1 or not stages:
        raise ValueError("need at least one frame and one stage")
    check_chain(stages)
    n = len(stages)
    depths = [fifo_depths] * (n + 1) if isinstance(fifo_depths, int) else list(fifo_depths)
    if len(depths) != n + 1 or min(depths) < 1:
        raise ValueError(f"need {n + 1} FIFO depths >= 1")
    fifos = [_Fifo(d) for d in depths]
    # actor k: 0 = source, 1..n = stages, n+1 = sink; actor k reads fifos[k-1], writes fifos[k]
    scheds = [_io_steps(stages[0].in_words, False)] + [s.steps for s in stages] + \
             [_io_steps(stages[-1].out_words, True)]
    per_frame = [stages[0].in_words] + [sum(1 for _ in s.steps()) for s in stages] + [stages[-1].out_words]
    its = [_frames(f, frames) for f in scheds]
    if source_period is not None:
        its[0] = _paced_source(stages[0].in_words, frames, source_period)
    pending = [next(it, None) for it in its]
    t_prev = [-1] * (n + 2)
    done_steps = [0] * (n + 2)
    frame_end: list[list[int]] = [[] for _ in range(n + 2)]
    first_out = [-1] * (n + 2)
    nevents = 0
    progress = True
    while progress:
        progress = False
        for k in range(n + 2):
            fin = fifos[k - 1] if k > 0 else None
            fout = fifos[k] if k <= n else None
            step = pending[k]
            it = its[k]
            tp = t_prev[k]
            while step is not None:
                gap, c, p = step
                t = tp + gap
                if c:
                    i = len(fin.r)
                    if i >= len(fin.w):
                        break
                    t = max(t, fin.w[i] + 1)
                if p:
                    j = len(fout.w) - fout.depth
                    if j >= 0:
                        if j >= len(fout.r):
                            break
                        t = max(t, fout.r[j] + 1)
                if c:
                    fin.r.append(t)
                if p:
                    fout.w.append(t)
                    if first_out[k] < 0:
                        first_out[k] = t
                tp = t
                done_steps[k] += 1
                if done_steps[k] % per_frame[k] == 0:
                    frame_end[k].append(t + 1)
                step = next(it, None)
                progress = True
                nevents += 1
            pending[k] = step
            t_prev[k] = tp
    if any(s is not None for s in pending):  # cannot happen for a chain with depths >= 1
        raise RuntimeError("dataflow simulation deadlocked")
    comp = frame_end[n + 1]
    peaks = []
    for f in fifos:
        peak = 0
        for i, tw in enumerate(f.w):   # occupancy right after write i: writes so far - reads up to then
            peak = max(peak, i + 1 - bisect_right(f.r, tw))
        peaks.append(peak)
    return SimResult(frames=frames, completions=comp, first_frame_latency=comp[0],
                     ii=comp[-1] - comp[-2] if frames > 1 else comp[0],
                     stage_first_out=first_out[1:n + 1], stage_frame_end=frame_end[1:n + 1],
                     fifo_peak=peaks, fifo_depths=depths, events=nevents)


def size_fifos(stages: list[Stage], frames: int = 3, minimum: int = 2) -> list[int]:
    """FIFO depths by FINN's ``InsertAndSetFIFODepths`` method: simulate with unbounded
    FIFOs while the input arrives at the pipeline's analytic rate (one frame every
    max-stage-cycles), and give every FIFO its peak occupancy (at least ``minimum``)."""
    ii = max(s.cycles() for s in stages)
    r = simulate(stages, frames, source_period=ii)
    return [max(minimum, p) for p in r.fifo_peak]
