"""Runs STRIDE adaptation bursts for the streaming refiner, off the frame path.

A burst: take a track's recent frames, adapt a copy of its current weights on what the stream
publishes (the trunk and lag head of its lag), validate (loss went down, no NaN, limbs no stretchier than before),
then replay the buffered frames through the new weights so their cache is exactly what the stream
would have had with them, catch up with the frames that arrived meanwhile (in the child, then again
in the receiving thread once the new runner is built), and hand over. The frame path swaps runner
and cache between two steps and replays the one or two frames still missing.

- `ProcessWorker` (the node): a child process does all of it. Measured on 2 cores, a background
  *thread* pushed the frame path's p99 from 7 to 15-150 ms (the GIL and the training loop's Python);
  a process leaves the frame path its own interpreter. The child keeps each person's adapted
  weights; the frame path only sends frames (a few hundred bytes each) and receives results.
- `InlineWorker` (file replay, evaluation): the same burst, synchronously when due: deterministic,
  as if the worker always kept up.
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import torch

from ..offline.adapt import AdaptConfig, adapt_model, loss_limb
from ..model.backends import canonical_cache
from ..model.dstformer import DSTformer

log = logging.getLogger("stride_ros.adaptation")
CHILD_NICE = 10  # the adaptation process's niceness (lower priority than the frame path)


@dataclass
class BurstResult:
    ok: bool
    reason: str
    losses: list = field(default_factory=list)
    state_dict: dict | None = None
    seconds: float = 0.0


def run_burst(base: DSTformer, weights: dict | None, xs: np.ndarray, lag: int, cfg: AdaptConfig,
              stop=None) -> BurstResult:
    """Adapt `base` (with `weights` if the person already has adapted ones) to frames xs [n, 17, 4]."""
    t0 = time.perf_counter()
    model = base
    if weights is not None:
        import copy
        model = copy.deepcopy(base)
        model.load_state_dict(weights)
    x = torch.from_numpy(xs[None])
    with torch.no_grad():
        ref = model.stream_output(x, 0)[0].numpy()  # lag-0 view of every frame: the residual gate's reference
        before = model.stream_output(x, lag)
    new, reason, losses = adapt_model(model, xs, cfg, ref, lag=lag, stop=stop)
    if new is not None:
        with torch.no_grad():
            after = new.stream_output(x, lag)
        lb, la = float(loss_limb(before)), float(loss_limb(after))
        if not torch.isfinite(after).all():
            new, reason = None, "adaptation diverged (non-finite output)"
        elif la > cfg.max_limb_ratio * max(lb, 1e-6):
            new, reason = None, f"adaptation diverged (limb variance {la:.2e} vs {lb:.2e} before)"
    sd = {k: v.detach().clone() for k, v in new.state_dict().items()} if new is not None else None
    return BurstResult(new is not None, reason, losses, sd, time.perf_counter() - t0)


class AdaptationWorkerBase:
    def __init__(self):
        self.refiner = None
        self.runs = 0
        self.accepted = 0
        self.last_seconds = 0.0
        self.last_result = ""

    def bind(self, refiner) -> None:
        self.refiner = refiner

    def busy(self) -> bool:
        return False

    def submit(self, track) -> None:
        raise NotImplementedError

    def on_frame(self, track, index: int, x: np.ndarray) -> None:
        """Every new frame of every track (the process worker forwards those it is catching up on)."""

    def on_drop(self, track) -> None:
        """A track ended: its adaptation ends with it."""

    def retire(self, runner) -> None:
        """A runner the frame path no longer uses (default: freed at once, by the caller)."""

    def describe(self) -> str:
        return f"{type(self).__name__}: {self.accepted}/{self.runs} bursts accepted; last: {self.last_result}"

    def close(self) -> None:
        pass

    def _finish(self, track, res: BurstResult) -> None:
        """Book-keeping shared by the workers after a burst (success or not)."""
        self.runs += 1
        self.last_seconds = res.seconds
        if res.ok:
            self.accepted += 1
            track.adapt_runs += 1
            track.adapt_last = (f"adapted: loss {res.losses[0]:.4f} -> {res.losses[-1]:.4f} in {res.seconds:.1f} s")
            log.info("track %s %s", track.id, track.adapt_last)
        else:
            track.adapt_last = res.reason
            track.adapt_state = "adapted" if track.weights is not None else "prior"
            if res.reason != "stopped":
                log.warning("track %s: %s; keeping the current weights", track.id, res.reason)
        self.last_result = track.adapt_last


def _buffer(track) -> tuple[list[int], list[np.ndarray]]:
    with track.lock:
        frames = list(track.frames)
    return [i for i, _ in frames], [x for _, x in frames]


class InlineWorker(AdaptationWorkerBase):
    """Runs each burst at once, inside push(): deterministic, for replaying files."""

    def submit(self, track) -> None:
        from .refiner import Handover
        r = self.refiner
        idx, xs = _buffer(track)
        res = run_burst(r.model, track.weights, np.stack(xs[-r.cfg.adapt_buffer_frames:]), r.cfg.lag,
                        r.cfg.adapt_config())
        self._finish(track, res)
        if res.ok:
            runner = r.base_runner.with_weights(res.state_dict)
            state = runner.empty_state()
            for x in xs:
                _, state = runner.step(x[None], state)
            track.pending = Handover(runner, state, idx[-1], res.state_dict)


# --- the process worker ------------------------------------------------------------------------

def _child_main(jobs, results, base_sd: dict, model_cfg: dict) -> None:  # pragma: no cover - child process
    """The adaptation process: bursts, then catch-up replays, for one refiner."""
    from ..model.dstformer import ModelConfig
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when this process ends
    torch.set_num_threads(1)
    try:  # the frame path must win every contest for a core: adaptation can always wait
        os.nice(CHILD_NICE)
    except OSError:
        pass
    base = DSTformer(ModelConfig(**model_cfg))
    base.load_state_dict(base_sd)
    base.eval()
    weights: dict = {}  # track key -> adapted state dict
    frames: dict = {}  # track key -> frames that arrived during its burst
    while True:
        msg = jobs.get()
        kind = msg[0]
        if kind == "stop":
            return
        if kind == "frame":
            _, key, i, x = msg
            if key in frames:
                frames[key].append((i, x))
            continue
        if kind == "drop":
            weights.pop(msg[1], None)
            frames.pop(msg[1], None)
            continue
        _, key, idx, xs, lag, cfg_dict, buffer_frames = msg  # a job
        frames[key] = []
        res = run_burst(base, weights.get(key), np.stack(xs[-buffer_frames:]), lag, AdaptConfig(**cfg_dict))
        if not res.ok:
            frames.pop(key, None)
            results.put(("result", key, res, None, -1))
            continue
        model = DSTformer(base.cfg)
        model.load_state_dict(res.state_dict)
        model.eval()
        st = model.empty_state(1, ahead=model.cfg.stream_head(lag)[0])  # the trunk the stream runs
        upto = idx[-1]
        with torch.no_grad():
            for x in xs:
                model.step(torch.from_numpy(x[None]), st)
            while True:  # catch up with the frames that came during the burst
                while True:
                    try:
                        m = jobs.get_nowait()
                    except queue.Empty:
                        break
                    if m[0] == "frame" and m[1] in frames:
                        frames[m[1]].append((m[2], m[3]))
                    elif m[0] == "drop":
                        weights.pop(m[1], None)
                        frames.pop(m[1], None)
                    elif m[0] == "stop":
                        return
                pending = [(i, x) for i, x in frames.get(key, []) if i > upto]
                if len(pending) <= 1 or key not in frames:
                    break
                for i, x in pending:
                    model.step(torch.from_numpy(x[None]), st)
                    upto = i
        frames.pop(key, None)
        weights[key] = res.state_dict
        results.put(("result", key, res, canonical_cache(st), upto))


def catch_up(track, runner, state, upto: int, max_rounds: int = 20) -> tuple:
    """Step `state` through the track's frames newer than `upto`, until at most one is missing.

    Building a session for the adapted weights takes ~0.5 s on 2 busy cores: 15-20 frames arrive
    meanwhile. Replaying them here, off the frame path, leaves the handover a frame or two."""
    for _ in range(max_rounds):
        with track.lock:
            behind = [(i, x) for i, x in track.frames if i > upto]
        if len(behind) <= 1 or not track.alive:
            break
        for i, x in behind:
            _, state = runner.step(x[None], state)
            upto = i
    return state, upto


class ProcessWorker(AdaptationWorkerBase):
    """One child process, one burst at a time. The frame path only puts messages on a queue."""

    def __init__(self):
        super().__init__()
        self._busy = threading.Event()
        self._tracks: dict = {}
        self._catching_up: set = set()
        self._retired: deque = deque()
        self.proc = None

    def bind(self, refiner) -> None:
        super().bind(refiner)
        ctx = mp.get_context("spawn")
        self._jobs, self._results = ctx.Queue(), ctx.Queue()
        sd = {k: v.detach().cpu().clone() for k, v in refiner.model.state_dict().items()}
        self.proc = ctx.Process(target=_child_main, name="stride-adaptation", daemon=True,
                                args=(self._jobs, self._results, sd, refiner.model.cfg.to_dict()))
        self.proc.start()
        self._stop = threading.Event()
        self._receiver = threading.Thread(target=self._receive, name="stride-adaptation-results", daemon=True)
        self._receiver.start()
        self._janitor = threading.Thread(target=self._free_retired, name="stride-adaptation-janitor", daemon=True)
        self._janitor.start()

    def busy(self) -> bool:
        return self._busy.is_set()

    def submit(self, track) -> None:
        r = self.refiner
        idx, xs = _buffer(track)
        cfg = r.cfg.adapt_config()
        self._busy.set()
        self._tracks[track.key] = track
        self._catching_up.add(track.key)
        self._jobs.put(("job", track.key, idx, xs, r.cfg.lag, cfg.__dict__, r.cfg.adapt_buffer_frames))

    def on_frame(self, track, index: int, x: np.ndarray) -> None:
        if track.key in self._catching_up:
            self._jobs.put(("frame", track.key, index, x))

    def on_drop(self, track) -> None:
        self._tracks.pop(track.key, None)
        self._catching_up.discard(track.key)
        self._jobs.put(("drop", track.key))

    def retire(self, runner) -> None:
        self._retired.append(runner)

    def _free_retired(self) -> None:
        """Frees retired runners one at a time, each just after a frame: the frame path is idle then."""
        done = self.refiner.frame_done
        while not self._stop.is_set():
            if not done.wait(timeout=0.2):
                continue
            done.clear()
            if self._retired:
                runner = self._retired.popleft()
                del runner  # the session's destructor runs here, between two frames

    def _receive(self) -> None:
        from .refiner import Handover
        while not self._stop.is_set():
            try:
                _, key, res, cache, upto = self._results.get(timeout=0.2)
            except queue.Empty:
                continue
            except (EOFError, OSError):
                return
            try:
                track = self._tracks.get(key)
                self._catching_up.discard(key)
                if track is None or not track.alive:
                    continue
                self._finish(track, res)
                if res.ok:
                    runner = self.refiner.base_runner.with_weights(res.state_dict)
                    state, upto = catch_up(track, runner, runner.state_from_canonical(cache), upto)
                    track.pending = Handover(runner, state, upto, res.state_dict)
            except Exception as e:  # noqa: BLE001 - a bad result must never kill the node
                log.exception("adaptation result could not be used: %s", e)
            finally:
                self._busy.clear()

    def close(self) -> None:
        if self.proc is None:
            return
        self._stop.set()
        try:
            self._jobs.put(("stop",))
        except (ValueError, OSError):
            pass
        self.proc.join(timeout=2)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(timeout=2)
        self._receiver.join(timeout=1)
        self._janitor.join(timeout=1)
        self._retired.clear()
        for q in (self._jobs, self._results):  # a dead child reads nothing: never wait at exit to feed it
            q.cancel_join_thread()
            q.close()
        self.proc = None
