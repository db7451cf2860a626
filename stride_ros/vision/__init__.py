# SPDX-License-Identifier: MIT
"""The camera-fed estimator: video frames in, absolute 17-joint skeletons in the camera's optical frame out.

MediaPipe BlazePose finds one person and gives 33 landmarks twice: metric but hip-centred ("world"),
and in pixels. `landmarks` maps them to the contract's 17 joints, `placement` solves the rigid motion
that puts the metric skeleton where the image says it is (camera intrinsics from `camera`),
`estimator` chains both per frame, `video` reads files, `quality` measures a sequence without
ground truth (jitter, bone-length variation). No ROS here; mediapipe is imported only when an
estimator is built (the `estimator` extra).
"""
