# SPDX-License-Identifier: MIT
"""An Intel RealSense camera (its colour stream) through realsense2_camera, into the camera chain.

`ros2 launch stride_ros realsense.launch.py [start_driver:=false] [arg:=value ...]`

Starts `realsense2_camera` (ros-<distro>-realsense2-camera, 4.5x: namespace camera, node camera, so
its topics are /camera/camera/...; colour 1280x720 at 30 fps, depth off: the estimator uses colour
only), unless start_driver:=false. Older releases (before 4.54) publish /camera/color/...: pass
start_driver:=false and run camera.launch.py with those topics instead.
Then camera.launch.py (pose_estimator + stride_refiner) on the driver's topics:
  image_topic: /camera/camera/color/image_raw
  camera_info_topic: /camera/camera/color/camera_info
Images go to the estimator JPEG-compressed (image_transport:=compressed, `<image topic>/compressed`),
which realsense2_camera publishes through image_transport when
ros-<distro>-image-transport-plugins is installed.
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
TOPICS = {"image_topic": "/camera/camera/color/image_raw", "camera_info_topic": "/camera/camera/color/camera_info"}


def generate_launch_description() -> LaunchDescription:
    camera_launch = os.path.join(get_package_share_directory("stride_ros"), "launch", "camera.launch.py")
    args = [
        DeclareLaunchArgument("start_driver", default_value="true",
                              description="true: start realsense2_camera here; false: it runs already, on its "
                              "default topics"),
        DeclareLaunchArgument("image_transport", default_value="compressed",
                              description="compressed (JPEG, the default: meets the latency goal at 720p) or raw"),
        DeclareLaunchArgument("max_people", default_value="1",
                              description="people the estimator finds per image, each with its own track_id"),
    ]
    driver = Node(
        package="realsense2_camera",
        executable="realsense2_camera_node",
        namespace="camera",
        name="camera",
        output="screen",
        condition=IfCondition(LaunchConfiguration("start_driver")),
        parameters=[{
            "enable_color": True,
            "enable_depth": False,
            "rgb_camera.color_profile": "1280x720x30",
        }],
    )
    chain = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(camera_launch),
        launch_arguments={**TOPICS, "image_transport": LaunchConfiguration("image_transport"),
                          "max_people": LaunchConfiguration("max_people")}.items(),
    )
    return LaunchDescription(args + [driver, chain])
