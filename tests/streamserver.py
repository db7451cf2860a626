"""Video over HTTP on 127.0.0.1 for the capture tests: a file served as it is (with byte ranges, as any
web server serves an mp4), and a live MJPEG stream (multipart/x-mixed-replace, what IP cameras send).

Either can stop part-way: `stop_after_bytes` (the file: the connection closes, later requests are
refused), `stop_after_frames` (the stream: the server stops sending), `stall` (the socket stays open
and silent, the worst case for a reader without a timeout).
"""
from __future__ import annotations

import http.server
import threading
import time
from pathlib import Path


class _Handler(http.server.BaseHTTPRequestHandler):
    server: "StreamServer._Server"

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        srv = self.server.owner
        if self.path.endswith(".mjpg"):
            return self._mjpeg(srv)
        return self._file(srv)

    def _hold(self, srv) -> None:
        if srv.stall:  # keep the connection open and say nothing
            srv.released.wait(60)

    def _file(self, srv) -> None:
        data = srv.data
        rng = self.headers.get("Range")
        start = int(rng.split("=")[1].split("-")[0]) if rng else 0
        cut = srv.stop_after_bytes if srv.stop_after_bytes is not None else len(data)
        if start >= cut:  # past the break: nothing more comes
            self._hold(srv)
            self.close_connection = True
            return
        self.send_response(206 if rng else 200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(data) - start))
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        try:
            self.wfile.write(data[start:cut])
            self.wfile.flush()
        except OSError:
            return
        if cut < len(data):
            self._hold(srv)
            self.close_connection = True

    def _mjpeg(self, srv) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.end_headers()
        i = 0
        try:
            while srv.stop_after_frames is None or i < srv.stop_after_frames:
                jpg = srv.jpegs[i % len(srv.jpegs)]
                self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpg)
                                 + jpg + b"\r\n")
                self.wfile.flush()
                srv.frames_sent += 1
                i += 1
                if srv.released.wait(1.0 / srv.fps):
                    return
        except OSError:
            return
        self._hold(srv)


class StreamServer:
    """`with StreamServer(clip) as s: s.url("clip.mp4")` or `s.url("live.mjpg")`."""

    class _Server(http.server.ThreadingHTTPServer):
        daemon_threads = True
        owner: "StreamServer"

    def __init__(self, clip: Path, stop_after_bytes: int | None = None, stop_after_frames: int | None = None,
                 stall: bool = False, fps: float = 30.0, jpeg_frames: int = 60, jpeg_width: int = 640):
        self.data = Path(clip).read_bytes()
        self.stop_after_bytes, self.stop_after_frames, self.stall, self.fps = (stop_after_bytes, stop_after_frames,
                                                                                stall, fps)
        self.jpegs = _jpegs(clip, jpeg_frames, jpeg_width)
        self.frames_sent = 0
        self.released = threading.Event()
        self._srv = self._Server(("127.0.0.1", 0), _Handler)
        self._srv.owner = self
        self._thread = threading.Thread(target=self._srv.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self._srv.server_address[1]}/{name}"

    def __enter__(self) -> "StreamServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.released.set()
        self._srv.shutdown()
        self._srv.server_close()


def _jpegs(clip: Path, n: int, width: int) -> list[bytes]:
    import cv2
    cap = cv2.VideoCapture(str(clip))
    out = []
    try:
        while len(out) < n:
            ok, frame = cap.read()
            if not ok:
                break
            h = round(frame.shape[0] * width / frame.shape[1] / 2) * 2
            out.append(cv2.imencode(".jpg", cv2.resize(frame, (width, h), interpolation=cv2.INTER_AREA))[1].tobytes())
    finally:
        cap.release()
    return out


def wait_for(pred, timeout: float = 30.0) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False
