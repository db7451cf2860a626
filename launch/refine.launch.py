# SPDX-License-Identifier: MIT
"""Start the stride_refiner node: `ros2 launch stride_ros refine.launch.py [arg:=value ...]`.

Launch arguments: params_file (default: the package's config/refine.yaml), namespace,
input_topic, output_topic, use_sim_time.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    default_params = os.path.join(get_package_share_directory("stride_ros"), "config", "refine.yaml")
    args = [
        DeclareLaunchArgument("params_file", default_value=default_params,
                              description="node parameters (YAML)"),
        DeclareLaunchArgument("namespace", default_value="", description="namespace of the node"),
        DeclareLaunchArgument("input_topic", default_value="/human_pose",
                              description="skeletons from the upstream estimator"),
        DeclareLaunchArgument("output_topic", default_value="/human_pose_refined",
                              description="refined skeletons"),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="follow /clock"),
    ]
    node = Node(
        package="stride_ros",
        executable="refine_node",
        name="stride_refiner",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        emulate_tty=True,
        parameters=[
            LaunchConfiguration("params_file"),
            {
                "input_topic": LaunchConfiguration("input_topic"),
                "output_topic": LaunchConfiguration("output_topic"),
                "use_sim_time": ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool),
            },
        ],
    )
    return LaunchDescription(args + [node])
