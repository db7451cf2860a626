# SPDX-License-Identifier: MIT
"""Model files: one format, loaded safely, and every failure named (file + what did not match)."""
from __future__ import annotations

import io
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..core.errors import CheckpointError
from .dstformer import DSTformer, ModelConfig

FORMAT = "stride_ros.prior"
VERSION = 1
DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "models" / "stride_small.pt"


@dataclass
class Checkpoint:
    config: ModelConfig
    state_dict: dict
    meta: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)


def default_model_path() -> Path:
    """The shipped prior: beside the package in a checkout, or installed under share/."""
    if DEFAULT_MODEL.exists():
        return DEFAULT_MODEL
    import sys
    for base in (Path(sys.prefix), Path(sys.prefix) / "local"):
        p = base / "share" / "stride_ros" / "models" / DEFAULT_MODEL.name
        if p.exists():
            return p
    try:
        from ament_index_python.packages import get_package_share_directory
        p = Path(get_package_share_directory("stride_ros")) / "models" / DEFAULT_MODEL.name
        if p.exists():
            return p
    except Exception:  # noqa: BLE001 - ament is optional
        pass
    return DEFAULT_MODEL


def save_checkpoint(path: str | Path, model: DSTformer, meta: dict | None = None,
                    extra: dict | None = None) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {"format": FORMAT, "version": VERSION, "config": model.cfg.to_dict(),
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "meta": meta or {}, "extra": extra or {}}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(blob, tmp)
    tmp.replace(path)


def load_checkpoint(path: str | Path, expect: ModelConfig | None = None) -> Checkpoint:
    """Read and check a model file. `expect`: the configuration the caller needs."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: model file not found")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a directory, expected a model file (.pt)")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: model file is empty")
    _check_magic(path)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError, ValueError, OSError,
            io.UnsupportedOperation) as e:
        raise CheckpointError(f"{path}: not a readable model file, truncated or corrupt "
                              f"({type(e).__name__}: {_first_line(e)})") from None
    except Exception as e:  # noqa: BLE001 - torch's unpickler fails on garbage in many ways (IndexError, ...)
        raise CheckpointError(f"{path}: not a model file, or a corrupt one ({type(e).__name__}: "
                              f"{_first_line(e)})") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        fmt = blob.get("format") if isinstance(blob, dict) else type(blob).__name__
        raise CheckpointError(f"{path}: not a stride_ros prior (format {fmt!r})")
    if blob.get("version") != VERSION:
        raise CheckpointError(f"{path}: model file version {blob.get('version')}, this build reads {VERSION}")
    try:
        cfg = ModelConfig(**blob["config"])
    except TypeError as e:
        raise CheckpointError(f"{path}: model configuration not understood ({e})") from None
    if expect is not None and cfg != expect:
        diff = {k: (v, getattr(expect, k)) for k, v in cfg.to_dict().items() if getattr(expect, k) != v}
        raise CheckpointError(f"{path}: configuration does not match: "
                              + ", ".join(f"{k} is {a}, expected {b}" for k, (a, b) in diff.items()))
    return Checkpoint(cfg, blob["state_dict"], blob.get("meta", {}), blob.get("extra", {}))


def _first_line(e: Exception) -> str:
    return (str(e).splitlines() or [""])[0][:120]


def _check_magic(path: Path) -> None:
    """A model file is a zip archive (torch.save) or, from older torch, a pickle: anything else (a text
    file, an image) is named as such before torch tries to unpickle it."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head.startswith(b"PK") or head[:1] == b"\x80":
        return
    kind = "a text file" if all(32 <= b < 127 or b in (9, 10, 13) for b in head) else "not a torch file"
    raise CheckpointError(f"{path}: not a model file ({kind}; a stride_ros prior is a .pt written by torch.save, "
                          "e.g. models/stride_small.pt)")


def load_model(path: str | Path | None = None) -> DSTformer:
    """A ready model (eval mode) from a checkpoint; shape mismatches name the tensor."""
    path = Path(path) if path else default_model_path()
    ckpt = load_checkpoint(path)
    model = DSTformer(ckpt.config)
    own = model.state_dict()
    missing = sorted(set(own) - set(ckpt.state_dict))
    unexpected = sorted(set(ckpt.state_dict) - set(own))
    if missing or unexpected:
        raise CheckpointError(f"{path}: weights do not match the model: missing {missing[:3]}, "
                              f"unexpected {unexpected[:3]}")
    for k, v in ckpt.state_dict.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise CheckpointError(f"{path}: tensor {k} has shape {tuple(v.shape)}, the configuration "
                                  f"needs {tuple(own[k].shape)}")
        if not torch.isfinite(v).all():
            raise CheckpointError(f"{path}: tensor {k} holds NaN or infinite values")
    model.load_state_dict(ckpt.state_dict)
    model.meta = ckpt.meta
    return model.eval()
