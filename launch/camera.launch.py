# SPDX-License-Identifier: MIT
"""A camera in, refined skeletons out: `ros2 launch stride_ros camera.launch.py image_topic:=... [arg:=value ...]`.

Starts `pose_estimator` (MediaPipe BlazePose on each image, absolute 17-joint skeletons in the
image's optical frame, on pose_topic) and `stride_refiner` (the refiner, parameters from
params_file, reading pose_topic and publishing refined_topic). With overlay:=true the refiner also
draws the refined skeleton on the camera image (published on /human_pose_refined/overlay).

Launch arguments (every one documented below with its default):
  image_topic, image_transport, camera_info_topic, image_qos, pose_topic, refined_topic, params_file, namespace,
  overlay, use_sim_time.
The estimator needs `pip install 'stride_ros[estimator]'` (MediaPipe); see its parameters with
`ros2 param describe /pose_estimator <name>`.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from launch import LaunchDescription


def _when_overlay(topic_argument: str) -> PythonExpression:
    """The topic when overlay:=true, else '' (an empty topic turns the refiner's overlay off)."""
    return PythonExpression(["'", LaunchConfiguration(topic_argument), "' if '", LaunchConfiguration("overlay"),
                             "'.lower() == 'true' else ''"])


def generate_launch_description() -> LaunchDescription:
    default_params = os.path.join(get_package_share_directory("stride_ros"), "config", "refine.yaml")
    args = [
        DeclareLaunchArgument("image_topic", default_value="/image_raw",
                              description="camera images (sensor_msgs/Image), rectified if the lens distorts"),
        DeclareLaunchArgument("image_transport", default_value="raw",
                              description="raw (sensor_msgs/Image on image_topic) or compressed "
                              "(sensor_msgs/CompressedImage on image_topic/compressed: far less to move at 720p)"),
        DeclareLaunchArgument("camera_info_topic", default_value="/camera_info",
                              description="the camera's CameraInfo (intrinsics); empty = none: the estimator "
                              "guesses focal length = image width (absolute distances then approximate)"),
        DeclareLaunchArgument("image_qos", default_value="sensor_data",
                              description="sensor_data (best effort, matches any camera) or reliable"),
        DeclareLaunchArgument("pose_topic", default_value="/human_pose",
                              description="estimated skeletons (PointCloud2): the estimator's output, the "
                              "refiner's input"),
        DeclareLaunchArgument("refined_topic", default_value="/human_pose_refined",
                              description="refined skeletons (PointCloud2)"),
        DeclareLaunchArgument("params_file", default_value=default_params,
                              description="the refiner's parameters (YAML)"),
        DeclareLaunchArgument("namespace", default_value="", description="namespace of both nodes"),
        DeclareLaunchArgument("overlay", default_value="false",
                              description="true: the refiner draws the refined skeleton on the camera image "
                              "(/human_pose_refined/overlay; needs OpenCV)"),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="follow /clock (bag replay)"),
    ]
    sim_time = ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool)
    estimator = Node(
        package="stride_ros",
        executable="pose_estimator",
        name="pose_estimator",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        emulate_tty=True,
        parameters=[{
            "image_topic": LaunchConfiguration("image_topic"),
            "camera_info_topic": LaunchConfiguration("camera_info_topic"),
            "image_qos": LaunchConfiguration("image_qos"),
            "image_transport": LaunchConfiguration("image_transport"),
            "output_topic": LaunchConfiguration("pose_topic"),
            "use_sim_time": sim_time,
        }],
    )
    refiner = Node(
        package="stride_ros",
        executable="refine_node",
        name="stride_refiner",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        emulate_tty=True,
        parameters=[
            LaunchConfiguration("params_file"),
            {
                "input_topic": LaunchConfiguration("pose_topic"),
                "output_topic": LaunchConfiguration("refined_topic"),
                "image_topic": _when_overlay("image_topic"),  # the overlay draws on the camera image
                "camera_info_topic": _when_overlay("camera_info_topic"),
                "use_sim_time": sim_time,
            },
        ],
    )
    return LaunchDescription(args + [estimator, refiner])
