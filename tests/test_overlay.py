"""The optional image overlay: projection, drawing, and the numpy fallback for cv_bridge."""
import numpy as np
import pytest

pytest.importorskip("cv2")
pytest.importorskip("sensor_msgs")

from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from stride_ros.ros.overlay import draw_skeletons, image_to_numpy, numpy_to_image, project  # noqa: E402

K = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])


def test_projection_of_known_points():
    pts = np.array([[0.0, 0.0, 2.0], [0.4, -0.2, 2.0], [0.0, 0.0, -1.0]])
    uv = project(pts, K)
    np.testing.assert_allclose(uv[0], [320, 240])
    np.testing.assert_allclose(uv[1], [420, 190])
    assert np.isnan(uv[2]).all()  # behind the camera


@pytest.mark.parametrize("encoding,channels", [("bgr8", 3), ("rgb8", 3), ("mono8", 1), ("rgba8", 4)])
def test_image_round_trip_without_cv_bridge(encoding, channels):
    arr = np.random.default_rng(0).integers(0, 255, (48, 64, channels), dtype=np.uint8)
    msg = numpy_to_image(arr, encoding, Header(frame_id="cam"), Image)
    assert (msg.height, msg.width, msg.step) == (48, 64, 64 * channels)
    np.testing.assert_array_equal(image_to_numpy(msg), arr)


def test_padded_rows_and_bad_encoding():
    arr = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    padded = np.zeros((2, 12), np.uint8)
    padded[:, :9] = arr.reshape(2, 9)
    msg = Image(height=2, width=3, encoding="rgb8", step=12, data=padded.tobytes())
    np.testing.assert_array_equal(image_to_numpy(msg), arr)
    with pytest.raises(ValueError, match="not supported"):
        image_to_numpy(Image(height=1, width=1, encoding="32FC1", step=4, data=bytes(4)))


def test_drawing_marks_the_skeleton_pixels(synthetic_clip):
    img = np.zeros((480, 640, 3), np.uint8)
    pose = synthetic_clip[0] - synthetic_clip[0, 0] + np.array([0, 0, 3.0], np.float32)  # 3 m ahead
    out = draw_skeletons(img, K, [(0, pose, np.ones(17, bool))])
    uv = project(pose, K).round().astype(int)
    assert out.any()
    assert out[uv[0, 1], uv[0, 0]].any()  # the pelvis got painted
