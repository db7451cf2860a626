# SPDX-License-Identifier: MIT
"""Adaptation bursts for the streaming refiner, off the frame path, behind a narrow protocol.

The refiner submits an `AdaptRequest` (a copy of one person's recent frames, which weights the
person runs now, the lag it publishes) and collects results on its own thread with `poll()`: a
`Handover` (a runner with the adapted weights and a cache that has already replayed the person's
frames) or a rejection with its reason. The worker never sees a track; the refiner applies what it
polls between two steps, so nothing the frame path reads is written by another thread.

A burst: adapt a copy of the person's current weights on what the stream publishes (the trunk and
lag head of its lag), validate (loss down, no NaN, limbs no stretchier than before, the held-out
check), replay the buffered frames through the new weights so the cache is exactly what the stream
would have had with them, catch up with the frames that arrived meanwhile, hand over.

- `ProcessWorker` (the node): a child process runs the bursts. Measured on 2 cores, a background
  *thread* pushed the frame path's p99 from 7 to 15-150 ms (the GIL and the training loop's
  Python); a process leaves the frame path its own interpreter. The child keeps each person's
  adapted weights (the frame path sends frames, a few hundred bytes each, never weights). The
  child dies with its parent (PR_SET_PDEATHSIG, and a parent check); if it dies first, the death
  is noticed within a poll period, logged, the burst in flight is reported failed, and the child
  is restarted, at most `max_restarts` times. What a restart costs the node, measured (2-core VM,
  the node's own anonymous memory): about 2.7 MB the first time (the new queues and their feeder
  thread, the copy of the prior's weights the new child is started with), 0.3 MB the second, nothing
  after (tests/test_worker_restart.py). The new child starts from the prior, so the next burst it
  gets accepted for a person builds that person a new adapted runner in the node (an ONNX Runtime
  session, about 10 MB; the old one is retired and freed): the same cost as the first accepted burst
  after start, bounded by `max_adapted_tracks`, not a leak.
- `InlineWorker` (file replay, evaluation): the same burst, synchronously when due: deterministic,
  as if the worker always kept up.
"""
from __future__ import annotations

import copy
import logging
import multiprocessing as mp
import os
import queue
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..core.resources import release_free_heap
from ..model.backends import Runner, canonical_cache
from ..model.dstformer import DSTformer, ModelConfig
from ..offline.adapt import AdaptConfig, adapt_model, loss_limb
from .blend import BlendParams, fit_share

log = logging.getLogger("stride_ros.stream.worker")
CHILD_NICE = 10  # the adaptation process's niceness (lower priority than the frame path)


@dataclass(frozen=True)
class AdaptRequest:
    """What a burst needs, copied from a track: the worker keeps no reference to the track."""
    key: int  # the person (unique for the refiner's lifetime)
    indices: tuple[int, ...]  # frame index of each row of `frames`
    frames: np.ndarray  # [n, 17, 4] the encoded frames the cache is rebuilt from (oldest first)
    train_frames: int  # the newest this many frames are the burst's training data
    weights_id: int | None  # the adapted weights the person runs (None: the prior)
    lag: int
    cfg: AdaptConfig
    fps: float = 30.0
    blend: BlendParams | None = None  # set: fit the person's estimator share (blend.py), no weight moves


@dataclass
class Handover:
    """A finished burst. ok: runner/state/upto/weights_id are set; else `message` says why not."""
    key: int
    ok: bool
    message: str
    runner: Runner | None = None
    state: Any = None
    upto: int = -1  # the state has consumed frames up to and including this index
    weights_id: int | None = None
    seconds: float = 0.0
    share: float | None = None  # a share fit (ok or not: 0 when rejected); no runner comes with it


@dataclass
class BurstResult:
    ok: bool
    reason: str
    losses: list = field(default_factory=list)
    state_dict: dict | None = None
    seconds: float = 0.0
    share: float | None = None  # a share fit's result (blend.py): the weights are not touched

    def message(self) -> str:
        if self.share is not None:
            return self.reason
        if self.ok:
            return f"adapted: loss {self.losses[0]:.4f} -> {self.losses[-1]:.4f} in {self.seconds:.1f} s"
        return self.reason


def replay(runner: Runner, state: Any, frames) -> Any:
    """Step a cache through encoded frames ([17, 4] each, oldest first); returns the new state."""
    for x in frames:
        _, state = runner.step(x[None], state)
    return state


def adapted_output_ok(before: torch.Tensor, after: torch.Tensor, cfg: AdaptConfig) -> str | None:
    """The one check of adapted output (both guards use it): None if fine, else the reason."""
    if not torch.isfinite(after).all():
        return "adaptation diverged (non-finite output)"
    lb, la = float(loss_limb(before)), float(loss_limb(after))
    if la > cfg.max_limb_ratio * max(lb, 1e-6):
        return f"adaptation diverged (limb variance {la:.2e} vs {lb:.2e} before)"
    return None


def run_request(base: DSTformer, weights: dict | None, req: AdaptRequest) -> BurstResult:
    """What both workers do with a request: a share fit, or a burst that adapts weights."""
    if req.blend is not None:  # a person who learns a share runs the prior's weights
        t0 = time.perf_counter()
        fit = fit_share(base, req.frames[-req.train_frames:], req.lag, req.fps, req.blend)
        return BurstResult(fit.ok, fit.message(), seconds=time.perf_counter() - t0,
                           share=fit.share if fit.ok else 0.0)
    return run_burst(base, weights, req.frames[-req.train_frames:], req.lag, req.cfg)


def run_burst(base: DSTformer, weights: dict | None, xs: np.ndarray, lag: int, cfg: AdaptConfig,
              stop=None) -> BurstResult:
    """Adapt `base` (with `weights` if the person already has adapted ones) to frames xs [n, 17, 4]."""
    t0 = time.perf_counter()
    model = base
    if weights is not None:
        model = copy.deepcopy(base)
        model.load_state_dict(weights)
    x = torch.from_numpy(xs[None])
    with torch.no_grad():
        ref = model.stream_output(x, 0)[0].numpy()  # lag-0 view of every frame: the residual gate's reference
        before = model.stream_output(x, lag)
    new, reason, losses = adapt_model(model, xs, cfg, ref, lag=lag, stop=stop)
    if new is not None:
        with torch.no_grad():
            bad = adapted_output_ok(before, new.stream_output(x, lag), cfg)
        if bad:
            new, reason = None, bad
    sd = {k: v.detach().clone() for k, v in new.state_dict().items()} if new is not None else None
    return BurstResult(new is not None, reason, losses, sd, time.perf_counter() - t0)


class AdaptationWorker:
    """The protocol both workers follow (and the book-keeping they share)."""

    def __init__(self):
        self.model: DSTformer | None = None
        self.base_runner: Runner | None = None
        self.runs = 0
        self.accepted = 0
        self.last_result = ""
        self.last_seconds = 0.0
        self._outbox: deque[Handover] = deque()

    def start(self, model: DSTformer, base_runner: Runner) -> None:
        self.model, self.base_runner = model, base_runner

    def available(self) -> bool:
        """False once the worker gave up (a child that kept dying): no more bursts are submitted."""
        return True

    def busy(self) -> bool:
        return False

    def submit(self, req: AdaptRequest) -> None:
        raise NotImplementedError

    def on_frame(self, key: int, index: int, x: np.ndarray) -> None:
        """Every new frame of every person (the process worker keeps those of a burst in flight)."""

    def drop(self, key: int) -> None:
        """A person's track ended: its adaptation ends with it."""

    def poll(self) -> list[Handover]:
        """Finished bursts, for the frame thread to apply (never blocks)."""
        out = []
        while self._outbox:
            out.append(self._outbox.popleft())
        return out

    def frame_done(self) -> None:
        """A frame finished: the CPU is free for a moment (the process worker frees runners then)."""

    def retire(self, runner: Runner) -> None:
        """A runner the frame path no longer uses (default: freed by the garbage collector)."""

    def describe(self) -> str:
        return f"{type(self).__name__}: {self.accepted}/{self.runs} bursts accepted; last: {self.last_result}"

    def close(self) -> None:
        pass

    def _book(self, res: BurstResult) -> str:
        self.runs += 1
        self.accepted += int(res.ok)
        self.last_seconds = res.seconds
        self.last_result = res.message()
        return self.last_result


class InlineWorker(AdaptationWorker):
    """Runs each burst at once, inside the refiner's push: deterministic, for replaying files."""

    def __init__(self):
        super().__init__()
        self._weights: dict[int, tuple[int, dict]] = {}  # key -> (weights id, state dict)
        self._next_id = 0

    def submit(self, req: AdaptRequest) -> None:
        held = self._weights.get(req.key)
        weights = held[1] if held is not None and held[0] == req.weights_id else None
        res = run_request(self.model, weights, req)
        msg = self._book(res)
        if res.share is not None:
            self._outbox.append(Handover(req.key, res.ok, msg, seconds=res.seconds, share=res.share))
            return
        if not res.ok:
            self._outbox.append(Handover(req.key, False, msg, seconds=res.seconds))
            return
        self._next_id += 1
        self._weights[req.key] = (self._next_id, res.state_dict)
        runner = self.base_runner.with_weights(res.state_dict)
        state = replay(runner, runner.empty_state(), req.frames)
        self._outbox.append(Handover(req.key, True, msg, runner, state, req.indices[-1], self._next_id, res.seconds))

    def drop(self, key: int) -> None:
        self._weights.pop(key, None)


# --- the process worker ------------------------------------------------------------------------

def _die_with_parent() -> None:  # pragma: no cover - child process
    """Ask Linux to SIGKILL this process when its parent dies (an orphaned 0.5 GB trainer otherwise)."""
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _child_main(jobs, results, base_sd: dict, model_cfg: dict, parent: int) -> None:  # pragma: no cover - child
    """The adaptation process: bursts, then catch-up replays, for one refiner."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when this process ends
    torch.set_num_threads(1)
    try:  # the frame path must win every contest for a core: adaptation can always wait
        os.nice(CHILD_NICE)
    except OSError:
        pass
    base = DSTformer(ModelConfig(**model_cfg))
    base.load_state_dict(base_sd)
    base.eval()
    weights: dict = {}  # key -> (weights id, adapted state dict)
    frames: dict = {}  # key -> frames that arrived during its burst
    next_id = 0

    def take(msg) -> bool:
        """Book-keeping messages; False on stop."""
        if msg[0] == "stop":
            return False
        if msg[0] == "frame" and msg[1] in frames:
            frames[msg[1]].append((msg[2], msg[3]))
        elif msg[0] == "drop":
            weights.pop(msg[1], None)
            frames.pop(msg[1], None)
        return True

    while True:
        try:
            msg = jobs.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent:  # orphaned (no prctl on this platform): leave
                return
            continue
        if msg[0] != "job":
            if not take(msg):
                return
            continue
        req: AdaptRequest = msg[1]
        frames[req.key] = []
        held = weights.get(req.key)
        w = held[1] if held is not None and held[0] == req.weights_id else None
        res = run_request(base, w, req)
        if not res.ok or res.share is not None:
            frames.pop(req.key, None)
            results.put(("result", req.key, res, None, -1, None))
            release_free_heap()
            continue
        model = DSTformer(base.cfg)
        model.load_state_dict(res.state_dict)
        model.eval()
        st = model.empty_state(1, ahead=model.cfg.stream_head(req.lag)[0])  # the trunk the stream runs
        upto = req.indices[-1]
        with torch.no_grad():
            for x in req.frames:
                model.step(torch.from_numpy(x[None]), st)
            while True:  # catch up with the frames that came during the burst
                while True:
                    try:
                        m = jobs.get_nowait()
                    except queue.Empty:
                        break
                    if not take(m):
                        return
                pending = [(i, x) for i, x in frames.get(req.key, []) if i > upto]
                if len(pending) <= 1 or req.key not in frames:
                    break
                for i, x in pending:
                    model.step(torch.from_numpy(x[None]), st)
                    upto = i
        frames.pop(req.key, None)
        next_id += 1
        weights[req.key] = (next_id, res.state_dict)
        results.put(("result", req.key, res, canonical_cache(st), upto, next_id))
        del model, st, res
        release_free_heap()  # a burst's autograd buffers are freed now: hand the pages back


class ProcessWorker(AdaptationWorker):
    """One child process, one burst at a time. The frame path only puts messages on a queue."""

    def __init__(self, max_restarts: int = 3):
        super().__init__()
        self.max_restarts = max_restarts
        self.restarts = 0
        self.dead_reason = ""  # set when the worker gave up
        self._busy = threading.Event()
        self._in_flight: int | None = None
        self._catching_up: dict[int, deque] = {}  # key -> frames that arrived during its burst
        self._lock = threading.Lock()
        self._retired: deque = deque()
        self._frame_done = threading.Event()
        self._alive = False
        self.proc = None

    def start(self, model: DSTformer, base_runner: Runner) -> None:
        super().start(model, base_runner)
        self._stop = threading.Event()
        self._spawn()
        self._receiver = threading.Thread(target=self._receive, name="stride-adaptation-results", daemon=True)
        self._receiver.start()
        self._janitor = threading.Thread(target=self._free_retired, name="stride-adaptation-janitor", daemon=True)
        self._janitor.start()

    def _spawn(self) -> None:
        ctx = mp.get_context("spawn")
        self._jobs, self._results = ctx.Queue(), ctx.Queue()
        sd = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
        self.proc = ctx.Process(target=_child_main, name="stride-adaptation", daemon=True,
                                args=(self._jobs, self._results, sd, self.model.cfg.to_dict(), os.getpid()))
        self.proc.start()
        self._alive = True

    def available(self) -> bool:
        return not self.dead_reason

    def busy(self) -> bool:
        return self._busy.is_set()

    def submit(self, req: AdaptRequest) -> None:
        if not self._alive:
            return
        self._busy.set()
        with self._lock:
            self._in_flight = req.key
            self._catching_up[req.key] = deque(maxlen=len(req.frames) + 64)
        self._jobs.put(("job", req))

    def on_frame(self, key: int, index: int, x: np.ndarray) -> None:
        with self._lock:
            buf = self._catching_up.get(key)
            if buf is None or not self._alive:
                return
            buf.append((index, x))
        self._jobs.put(("frame", key, index, x))

    def drop(self, key: int) -> None:
        with self._lock:
            self._catching_up.pop(key, None)
        if self._alive:
            self._jobs.put(("drop", key))

    def frame_done(self) -> None:
        self._frame_done.set()

    def retire(self, runner: Runner) -> None:
        self._retired.append(runner)

    def describe(self) -> str:
        if self.dead_reason:
            return f"ProcessWorker: off ({self.dead_reason}); {self.accepted}/{self.runs} bursts accepted"
        extra = f"; child restarted {self.restarts}x" if self.restarts else ""
        return super().describe() + extra

    def _free_retired(self) -> None:
        """Frees retired runners one at a time, each just after a frame: the frame path is idle then
        (freeing an onnxruntime session holds the GIL 5-15 ms)."""
        while not self._stop.is_set():
            if not self._frame_done.wait(timeout=0.2):
                continue
            self._frame_done.clear()
            if self._retired:
                runner = self._retired.popleft()
                del runner  # the session's destructor runs here, between two frames
                release_free_heap()  # sessions are built on another thread: glibc keeps their pages otherwise

    def _catch_up(self, key: int, runner: Runner, state: Any, upto: int, max_rounds: int = 20) -> tuple[Any, int]:
        """Replay the person's frames newer than `upto` until at most one is missing: building a
        session for adapted weights takes ~0.5 s on 2 busy cores, 15-20 frames arrive meanwhile."""
        for _ in range(max_rounds):
            with self._lock:
                buf = self._catching_up.get(key)
                behind = [(i, x) for i, x in buf if i > upto] if buf is not None else []
            if len(behind) <= 1:
                break
            state = replay(runner, state, [x for _, x in behind])
            upto = behind[-1][0]
        return state, upto

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                _, key, res, cache, upto, weights_id = self._results.get(timeout=0.2)
            except queue.Empty:
                self._check_child()
                continue
            except (EOFError, OSError, ValueError):
                self._check_child()
                if self._stop.wait(0.2):
                    return
                continue
            try:
                msg = self._book(res)
                if res.share is not None:
                    self._outbox.append(Handover(key, res.ok, msg, seconds=res.seconds, share=res.share))
                elif res.ok:
                    runner = self.base_runner.with_weights(res.state_dict)
                    state, upto = self._catch_up(key, runner, runner.state_from_canonical(cache), upto)
                    self._outbox.append(Handover(key, True, msg, runner, state, upto, weights_id, res.seconds))
                else:
                    self._outbox.append(Handover(key, False, msg, seconds=res.seconds))
            except Exception as e:  # noqa: BLE001 - a bad result must never kill the node
                log.exception("adaptation result could not be used: %s", e)
                self._outbox.append(Handover(key, False, f"adaptation result unusable ({type(e).__name__})"))
            finally:
                with self._lock:
                    self._catching_up.pop(key, None)
                    self._in_flight = None
                self._busy.clear()

    def _check_child(self) -> None:
        """Notice a dead child: reap it, fail the burst in flight, restart (bounded) or give up."""
        if self.proc is None or self.proc.is_alive() or self._stop.is_set():
            return
        code = self.proc.exitcode
        self.proc.join(timeout=0.1)  # reap: no zombie
        self._alive = False
        with self._lock:
            key, self._in_flight = self._in_flight, None
            self._catching_up.clear()
        if key is not None:
            self._outbox.append(Handover(key, False, f"adaptation process died (exit code {code})"))
        for q in (self._jobs, self._results):
            q.cancel_join_thread()
            q.close()
        self._busy.clear()
        if self.restarts >= self.max_restarts:
            self.dead_reason = f"the adaptation process died {self.restarts + 1} times (last exit code {code})"
            log.error("%s: adaptation is off for the rest of this run", self.dead_reason)
            self.proc = None
            return
        self.restarts += 1
        log.error("the adaptation process died (exit code %s): restarting it (%d/%d)", code, self.restarts,
                  self.max_restarts)
        self._spawn()

    def close(self) -> None:
        if self.proc is None and not hasattr(self, "_stop"):
            return
        self._stop.set()
        if self.proc is not None:
            try:
                self._jobs.put(("stop",))
            except (ValueError, OSError):
                pass
            self.proc.join(timeout=2)
            if self.proc.is_alive():
                self.proc.terminate()
                self.proc.join(timeout=2)
            for q in (self._jobs, self._results):  # a dead child reads nothing: never wait at exit to feed it
                q.cancel_join_thread()
                q.close()
        self._receiver.join(timeout=1)
        self._janitor.join(timeout=1)
        self._retired.clear()
        self.proc = None

