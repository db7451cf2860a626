"""What a person looks at: the overlay caption stays readable on a bright background, and --show without
a display is one line, not a crash."""
from __future__ import annotations

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2", reason="pip install 'stride_ros[estimator]'")

from stride_ros.vision.drawing import CAPTION_BOX_ALPHA, Preview, put_caption  # noqa: E402


def test_caption_sits_on_a_dark_box_over_a_white_sky():
    img = np.full((200, 600, 3), 255, np.uint8)  # a bright sky: white text alone would vanish
    put_caption(img, "frame 12: raw thin, refined thick, o = inferred", 0.75, 2)
    (w, h), base = cv2.getTextSize("frame 12: raw thin, refined thick, o = inferred", cv2.FONT_HERSHEY_SIMPLEX, 0.75, 2)
    box = img[10:10 + h + base, 10:10 + w]
    background = (box == round(255 * (1 - CAPTION_BOX_ALPHA))).all(-1)  # the sky, darkened
    assert background.mean() > 0.5  # most of the box behind the text
    assert (box == 255).all(-1).sum() > 50  # the white text itself, now on the dark box
    assert (img[150:, :] == 255).all()  # the rest of the frame untouched


def test_caption_near_the_edge_is_clipped_not_an_error():
    img = np.zeros((20, 40, 3), np.uint8)
    put_caption(img, "a long caption on a tiny frame", 1.0, 2)  # wider than the frame


def test_show_without_a_display_is_one_line_and_no_window(monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    assert Preview.unavailable() == "no display (DISPLAY is not set)"
    assert Preview.open(True) is None
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["--show: no display (DISPLAY is not set): no window"]
    assert Preview.open(False) is None and capsys.readouterr().err == ""
