"""Runs STRIDE adaptation bursts for the streaming refiner, off the frame path.

A burst: snapshot a track's recent frames, adapt a copy of its current weights in causal mode
(the lag head the stream publishes), validate (loss went down, no NaN, limbs no stretchier than
before), build a runner for the new weights, and replay the buffered frames through it so that its
cache is exactly what the stream would have had with these weights; then catch up with the frames
that arrived meanwhile and hand over. The frame path swaps runner and cache between two steps.

`ThreadWorker` does this on a background thread (the node); `InlineWorker` does it synchronously
at the moment it is due (file replay and evaluation: deterministic, as if the worker kept up).
"""
from __future__ import annotations

import logging
import queue
import threading
import time

import numpy as np
import torch

from .adapt import adapt_model, loss_limb

log = logging.getLogger("stride_ros.adaptation")


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

    def describe(self) -> str:
        return f"{type(self).__name__}: {self.accepted}/{self.runs} bursts accepted; last: {self.last_result}"

    def close(self) -> None:
        pass

    def stopping(self) -> bool:
        return False

    # the burst itself ---------------------------------------------------------------------------
    def run_job(self, track) -> None:
        r = self.refiner
        t0 = time.perf_counter()
        self.runs += 1
        lag = r.cfg.lag
        with track.lock:
            frames = list(track.frames)[-r.cfg.adapt_buffer_frames:]
        xs = np.stack([x for _, x in frames])
        base = track.model if track.model is not None else r.model
        with torch.no_grad():
            before = base(torch.from_numpy(xs[None]), causal=True)[0]
        ref = (before[..., 0, :] - before[:, :1, 0, :]).numpy()  # lag-0 view: the gate's reference
        new, reason, losses = adapt_model(base, xs, r.cfg.adapt_config(), ref, causal=True, lag=lag,
                                          stop=self.stopping)
        if new is not None:
            with torch.no_grad():
                after = new(torch.from_numpy(xs[None]), causal=True)[..., lag, :]
            lb = float(loss_limb(before[None, ..., lag, :] - before[None, :, :1, lag, :]))
            la = float(loss_limb(after - after[:, :, :1]))
            if not np.isfinite(after.numpy()).all():
                new, reason = None, "adaptation diverged (non-finite output)"
            elif la > r.cfg.adapt_config().max_limb_ratio * max(lb, 1e-6):
                new, reason = None, f"adaptation diverged (limb variance {la:.2e} vs {lb:.2e} before)"
        if new is None or not track.alive:
            track.adapt_last = reason if new is None else "track ended during adaptation"
            track.adapt_state = "adapted" if track.model is not None else "prior"
            self.last_result = track.adapt_last
            self.last_seconds = time.perf_counter() - t0
            if new is None:
                log.warning("track %s: %s; keeping the current weights", track.id, reason)
            return
        runner = r.backend.runner(new)
        with track.lock:
            frames = list(track.frames)
        state = runner.empty_state()
        for _, x in frames:
            if self.stopping():
                return
            _, state = runner.step(x[None], state)
        upto = frames[-1][0]
        while not self.stopping():  # catch up with frames that arrived meanwhile, then hand over
            with track.lock:
                newer = [(i, x) for i, x in track.frames if i > upto]
                if len(newer) <= 2:
                    from .streaming import Handover
                    track.pending = Handover(runner, state, upto, new)
                    break
            for i, x in newer:
                _, state = runner.step(x[None], state)
                upto = i
        track.adapt_runs += 1
        self.accepted += 1
        self.last_seconds = time.perf_counter() - t0
        track.adapt_last = (f"adapted: loss {losses[0]:.4f} -> {losses[-1]:.4f} in {self.last_seconds:.1f} s "
                            f"({len(xs)} frames)")
        self.last_result = track.adapt_last
        log.info("track %s %s", track.id, track.adapt_last)


class InlineWorker(AdaptationWorkerBase):
    """Runs each burst at once, inside push(): deterministic, for replaying files."""

    def submit(self, track) -> None:
        self.run_job(track)


class ThreadWorker(AdaptationWorkerBase):
    """One background thread, one burst at a time; the frame path only ever polls."""

    def __init__(self):
        super().__init__()
        self._jobs: queue.Queue = queue.Queue(maxsize=1)
        self._busy = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="stride-adaptation", daemon=True)
        self._thread.start()

    def busy(self) -> bool:
        return self._busy.is_set()

    def submit(self, track) -> None:
        self._busy.set()
        self._jobs.put(track)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                track = self._jobs.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self.run_job(track)
            except Exception as e:  # noqa: BLE001 - a failed burst must never kill the node
                track.adapt_last = f"burst failed: {type(e).__name__}: {e}"
                track.adapt_state = "adapted" if track.model is not None else "prior"
                log.exception("adaptation burst failed; keeping the current weights")
            finally:
                self._busy.clear()

    def stopping(self) -> bool:
        return self._stop.is_set()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
