# SPDX-License-Identifier: MIT
"""A camera in, refined skeletons out: `ros2 launch stride_ros camera.launch.py image_topic:=... [arg:=value ...]`.

Starts `pose_estimator` (MediaPipe BlazePose on each image, absolute 17-joint skeletons in the
image's optical frame, on pose_topic) and `stride_refiner` (the refiner, parameters from
params_file, reading pose_topic and publishing refined_topic). With overlay:=true the refiner also
draws the refined skeleton on the camera image (published on /human_pose_refined/overlay).

Launch arguments (every one documented below with its default; the table in docs/camera.md):
  image_topic, image_transport, camera_info_topic, image_qos, max_people, pose_topic, refined_topic, params_file,
  namespace, overlay, adapt, use_sim_time.
max_people:=N (N > 1) finds up to N people per image, each published with its own track_id; the refiner
refines each under that id.
Images come JPEG-compressed by default (image_transport:=compressed, from image_topic + '/compressed', as
image_transport's compressed plugin publishes them beside the raw topic): a raw 720p image took 14-66 ms to
reach the estimator through rclpy and Fast DDS, a JPEG about 2 ms (docs/camera.md). image_transport:=raw
for a camera that publishes no compressed topic. Launch files for common drivers' topic names:
usb_cam.launch.py, v4l2_camera.launch.py, realsense.launch.py.
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
        DeclareLaunchArgument("image_transport", default_value="compressed",
                              description="compressed (sensor_msgs/CompressedImage, JPEG, on image_topic/compressed: "
                              "the default, a 720p frame reaches the estimator in about 2 ms) or raw "
                              "(sensor_msgs/Image on image_topic: 14-66 ms at 720p, past the latency goal)"),
        DeclareLaunchArgument("camera_info_topic", default_value="/camera_info",
                              description="the camera's CameraInfo (intrinsics); empty = none: the estimator "
                              "guesses focal length = image width (absolute distances then approximate)"),
        DeclareLaunchArgument("image_qos", default_value="sensor_data",
                              description="sensor_data (best effort, matches any camera) or reliable"),
        DeclareLaunchArgument("max_people", default_value="1",
                              description="people the estimator finds per image, each with its own track_id (1: the "
                              "single-person estimator, the cheapest; more: MediaPipe's multi-person landmarker, "
                              "about twice the cost per image and more per person)"),
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
        DeclareLaunchArgument("adapt", default_value="false",
                              description="the refiner learns each person's share of BlazePose's pose in the "
                              "background, while no floor is in use (adapt_params blend; on real video it wins "
                              "0.5 % without a floor and lost with one: not used there, docs/results.md)"),
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
            "max_people": ParameterValue(LaunchConfiguration("max_people"), value_type=int),
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
                "adapt": ParameterValue(LaunchConfiguration("adapt"), value_type=bool),
                "camera_rays": True,  # pose_estimator keeps each joint on its viewing ray (stream/rays.py)
                "use_sim_time": sim_time,
            },
        ],
    )
    return LaunchDescription(args + [estimator, refiner])
