# SPDX-License-Identifier: MIT
"""The model bundle MediaPipe's Tasks `PoseLandmarker` needs, made on this machine from the two BlazePose
models inside the installed mediapipe wheel: never downloaded, never committed.

Only the Tasks API finds several people per frame (`num_poses` > 1), and it loads a `.task` bundle
(a zip of `pose_detector.tflite` and `pose_landmarks_detector.tflite`) that no wheel ships. The
mediapipe 0.10.21 wheel does ship both models (`pose_detection.tflite`, `pose_landmark_full.tflite`,
what the legacy single-person API runs) and the tools to bundle them (`metadata_writers`). The one
thing the Tasks API wants that the legacy models lack is input-normalisation metadata: the detector
takes pixels scaled to [-1, 1] (mean 127.5, std 127.5), the landmark model pixels scaled to [0, 1]
(mean 0, std 255). Written into the models, they run unchanged (landmarks equal the legacy API's).

The bundle is built at first use into the user's cache (`$STRIDE_ROS_CACHE`, else
`$XDG_CACHE_HOME/stride_ros`, else `~/.cache/stride_ros`), named by a hash of the two source models,
so a different mediapipe build gets its own bundle and a stale one is never used. It is written
to a temporary file and renamed into place: processes building at once each finish a whole file.
About 9 MB, built in well under a second.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import InputError

BUNDLE_VERSION = 1  # bump when what goes into the bundle changes (the cached file's name changes with it)


@dataclass(frozen=True)
class Member:
    source: str  # path inside the mediapipe package
    name: str  # member name the Tasks graph looks for
    mean: float  # input normalisation: (pixel - mean) / std
    std: float


MEMBERS = (
    Member("modules/pose_detection/pose_detection.tflite", "pose_detector.tflite", 127.5, 127.5),
    Member("modules/pose_landmark/pose_landmark_full.tflite", "pose_landmarks_detector.tflite", 0.0, 255.0),
)


def cache_root() -> Path:
    """Where the bundle is kept: $STRIDE_ROS_CACHE, else $XDG_CACHE_HOME/stride_ros, else ~/.cache/stride_ros."""
    if os.environ.get("STRIDE_ROS_CACHE"):
        return Path(os.environ["STRIDE_ROS_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "stride_ros"


def source_models() -> dict[Member, bytes]:
    """The two models as the installed wheel ships them (InputError, one line, when they are not there)."""
    from .blazepose import INSTALL_HINT, import_mediapipe
    base = Path(import_mediapipe().__file__).parent
    out = {}
    for m in MEMBERS:
        path = base / m.source
        try:
            out[m] = path.read_bytes()
        except OSError:
            raise InputError(f"this mediapipe has no {m.source} (several people need the models of "
                             f"mediapipe 0.10.21): {INSTALL_HINT}") from None
    return out


def bundle_name(models: dict[Member, bytes]) -> str:
    h = hashlib.sha256(f"stride_ros pose bundle v{BUNDLE_VERSION}".encode())
    for m in MEMBERS:
        h.update(m.name.encode())
        h.update(hashlib.sha256(models[m]).digest())
    return f"pose_landmarker_full-{h.hexdigest()[:16]}.task"


def with_normalisation(model: bytes, mean: float, std: float) -> bytes:
    """A tflite model with image-input metadata (normalisation mean/std) written into it."""
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer
    writer = metadata_writer.MetadataWriter.create(bytearray(model))
    writer.add_general_info("BlazePose", "BlazePose from the mediapipe wheel, with input normalisation")
    writer.add_image_input(norm_mean=[mean], norm_std=[std])
    return bytes(writer.populate()[0])


def is_bundle(path: Path) -> bool:
    """A readable zip holding both members (a half-written or foreign file is not)."""
    try:
        with zipfile.ZipFile(path) as z:
            return {m.name for m in MEMBERS} <= set(z.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def build_bundle(models: dict[Member, bytes], dest: Path) -> None:
    """Write the bundle to `dest` atomically (a temporary file in the same folder, then a rename)."""
    from mediapipe.tasks.python.metadata.metadata_writers import model_asset_bundle_utils
    members = {m.name: with_normalisation(models[m], m.mean, m.std) for m in MEMBERS}
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
    os.close(fd)
    try:
        model_asset_bundle_utils.create_model_asset_bundle(members, tmp)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def pose_bundle(cache: Path | None = None) -> Path:
    """The bundle's path, built on first use. InputError (one line) when it cannot be built."""
    folder = Path(cache) if cache is not None else cache_root()
    models = source_models()
    dest = folder / bundle_name(models)
    if dest.is_file() and is_bundle(dest):
        return dest
    hint = "set STRIDE_ROS_CACHE to a writable folder"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        build_bundle(models, dest)
    except OSError as e:
        raise InputError(f"cannot build MediaPipe's pose bundle in {folder}: {e.strerror or e} ({hint})") from None
    except Exception as e:  # noqa: BLE001 - mediapipe's metadata writer raises plain errors of several kinds
        raise InputError(f"cannot build MediaPipe's pose bundle from this mediapipe ({type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else ''})") from None
    if not is_bundle(dest):
        raise InputError(f"{dest}: the pose bundle just written does not read back ({hint})")
    return dest
