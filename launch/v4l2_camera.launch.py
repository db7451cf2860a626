# SPDX-License-Identifier: MIT
"""A V4L2 camera through the v4l2_camera driver, into the camera chain.

`ros2 launch stride_ros v4l2_camera.launch.py [start_driver:=false] [arg:=value ...]`

Starts `v4l2_camera` (ros-<distro>-v4l2-camera: device video_device, 1280x720, rgb8), unless
start_driver:=false.
Then camera.launch.py (pose_estimator + stride_refiner) on the driver's topics:
  image_topic: /image_raw
  camera_info_topic: /camera_info
Images go to the estimator JPEG-compressed (image_transport:=compressed, `<image topic>/compressed`),
which v4l2_camera publishes through image_transport when ros-<distro>-image-transport-plugins
is installed.
Without that plugin, pass image_transport:=raw. max_people:=N finds up to N people per image (default 1).
Every other argument of camera.launch.py (pose_topic, refined_topic, params_file, namespace, overlay,
use_sim_time, image_qos) passes through: docs/camera.md.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription

# the driver's topics with its defaults (docs/camera.md lists them; tests/test_camera_launch.py checks both)
TOPICS = {"image_topic": "/image_raw", "camera_info_topic": "/camera_info"}


def generate_launch_description() -> LaunchDescription:
    camera_launch = os.path.join(get_package_share_directory("stride_ros"), "launch", "camera.launch.py")
    args = [
        DeclareLaunchArgument("start_driver", default_value="true",
                              description="true: start v4l2_camera here; false: it runs already, on its "
                              "default topics"),
        DeclareLaunchArgument("video_device", default_value="/dev/video0", description="the V4L2 device"),
        DeclareLaunchArgument("image_transport", default_value="compressed",
                              description="compressed (JPEG, the default: meets the latency goal at 720p) or raw"),
        DeclareLaunchArgument("max_people", default_value="1",
                              description="people the estimator finds per image, each with its own track_id"),
    ]
    driver = Node(
        package="v4l2_camera",
        executable="v4l2_camera_node",
        name="v4l2_camera",
        output="screen",
        condition=IfCondition(LaunchConfiguration("start_driver")),
        parameters=[{
            "video_device": LaunchConfiguration("video_device"),
            "image_size": [1280, 720],
            "output_encoding": "rgb8",
            "camera_frame_id": "camera_optical_frame",
        }],
    )
    chain = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(camera_launch),
        launch_arguments={**TOPICS, "image_transport": LaunchConfiguration("image_transport"),
                          "max_people": LaunchConfiguration("max_people")}.items(),
    )
    return LaunchDescription(args + [driver, chain])
