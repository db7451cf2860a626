# SPDX-License-Identifier: MIT
"""`stride-ros build-interfaces`: build tf2_msgs and hri_msgs (no wheel ships them) into this environment.

With them the node publishes ROS4HRI bodies and TF frames without a ROS installation.

Each package under `interfaces/` is a minimal ament_cmake package whose `.msg` files follow the released
packages field for field (same type hashes); CMake and the ROS wheels' own generators (the `hri` extra)
build it and install it into the active virtualenv's prefix, where the wheels' start-up hook finds the
libraries. A package that already imports (a ROS installation, an earlier build) is left alone.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from ..core.errors import InputError
from .common import positive_int

HELP = "build the tf2_msgs and hri_msgs messages (no wheel ships them) into this virtualenv"
PACKAGES = ("tf2_msgs", "hri_msgs")  # in dependency order
MIN_CMAKE = (3, 21)  # the include-path fix in the packages' CMakeLists walks IMPORTED_TARGETS
GENERATORS = ("ament_cmake", "rosidl_default_generators", "ament_cmake_ros_core")
INSTALL_HINT = "pip install 'stride_ros[hri]'"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prefix", help="install prefix (default: the active virtualenv)")
    p.add_argument("--source", help="folder holding the interface packages (default: the project's interfaces/)")
    p.add_argument("--only", choices=PACKAGES, action="append", help="build only this package (repeatable)")
    p.add_argument("--force", action="store_true", help="build even where the package already imports")
    p.add_argument("--jobs", type=positive_int, default=os.cpu_count() or 1, help="parallel compile jobs")
    p.add_argument("--build-dir", help="keep the CMake build here (default: a temporary folder, removed "
                   "after a successful build)")


def interface_sources(explicit: str | None) -> Path:
    """The folder with tf2_msgs/ and hri_msgs/: given, the source checkout's, or the installed copy."""
    candidates = [Path(explicit)] if explicit else [
        Path(__file__).resolve().parents[2] / "interfaces",  # a source checkout (editable install)
        Path(sys.prefix) / "share" / "stride_ros" / "interfaces",  # installed with the package
    ]
    for c in candidates:
        if all((c / pkg / "CMakeLists.txt").is_file() for pkg in PACKAGES):
            return c
    raise InputError(f"no interface packages ({', '.join(PACKAGES)}) under {' or '.join(map(str, candidates))}")


def importable(pkg: str, python: str) -> bool:
    """Does `pkg.msg` import in a fresh interpreter (with the ROS wheels' library path set up)?"""
    r = subprocess.run([python, "-c", f"import {pkg}.msg"], capture_output=True)
    return r.returncode == 0


def check_toolchain(prefix: Path) -> dict[str, str]:
    """What the build needs, checked before any work: one line naming what is missing."""
    cmake = shutil.which("cmake")
    if cmake is None:
        raise InputError("cmake not found: install it (e.g. apt install cmake, or pip install cmake)")
    out = subprocess.run([cmake, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"(\d+)\.(\d+)", out)
    if not m or (int(m[1]), int(m[2])) < MIN_CMAKE:
        raise InputError(f"cmake {m[0] if m else '?'} is too old: {'.'.join(map(str, MIN_CMAKE))} or newer needed")
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    cxx = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")
    if not cc or not cxx:
        raise InputError(f"no {'C' if not cc else 'C++'} compiler found: install one (e.g. apt install g++)")
    include = Path(sysconfig.get_paths()["include"])
    if not (include / "Python.h").is_file():
        raise InputError(f"Python headers missing ({include}/Python.h): install them (e.g. apt install python3-dev)")
    if importlib.util.find_spec("numpy") is None:
        raise InputError("numpy is not installed")
    env = Path(sys.prefix)  # where pip put the ROS wheels and the generators
    missing = [g for g in GENERATORS if not any((d / "share" / g / "cmake").is_dir() for d in (env, prefix))]
    if missing:
        raise InputError(f"ROS generator packages missing from {env} ({', '.join(missing)}): {INSTALL_HINT}")
    return {"cmake": cmake, "CC": cc, "CXX": cxx}


def build_one(pkg: str, src: Path, build: Path, prefix: Path, python: str, jobs: int, cmake: str) -> float:
    """Configure, build and install one package; returns seconds. The log is build/<pkg>.log."""
    log = build / f"{pkg}.log"
    t0 = time.perf_counter()
    prefixes = list(dict.fromkeys([str(prefix), sys.prefix]))  # this env's ROS packages, found by CMake and
    env = dict(os.environ)                                       # by the ament index (typesupports)
    env["AMENT_PREFIX_PATH"] = os.pathsep.join(prefixes + [p for p in env.get("AMENT_PREFIX_PATH", "").split(
        os.pathsep) if p and p not in prefixes])
    steps = [
        ("configure", [cmake, "-S", str(src / pkg), "-B", str(build / pkg),
                       f"-DCMAKE_PREFIX_PATH={';'.join(prefixes)}",
                       f"-DCMAKE_INSTALL_PREFIX={prefix}", f"-DPython3_EXECUTABLE={python}",
                       "-DBUILD_TESTING=OFF", "-DCMAKE_BUILD_TYPE=Release"]),
        ("compile", [cmake, "--build", str(build / pkg), "--parallel", str(jobs)]),
        ("install", [cmake, "--install", str(build / pkg)]),
    ]
    with open(log, "a") as f:
        for name, cmd in steps:
            print(f"  {pkg}: {name} ...", flush=True)
            f.write(f"$ {' '.join(cmd)}\n")
            f.flush()
            if subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env).returncode != 0:
                tail = log.read_text().splitlines()[-15:]
                print("\n".join(f"    | {line}" for line in tail), flush=True)  # the error itself: one line
                raise InputError(f"{pkg}: {name} failed (full log: {log})")
    return time.perf_counter() - t0


def run(a: argparse.Namespace) -> int:
    python = sys.executable
    in_venv = sys.prefix != sys.base_prefix
    if a.prefix is None and not in_venv:
        raise InputError("not in a virtualenv: activate one, or name the install prefix with --prefix")
    prefix = Path(a.prefix or sys.prefix).resolve()
    src = interface_sources(a.source)
    wanted = a.only or list(PACKAGES)
    todo = [p for p in PACKAGES if p in wanted and (a.force or not importable(p, python))]
    for p in PACKAGES:
        if p in wanted and p not in todo:
            print(f"{p}: already importable, left alone (--force rebuilds it)")
    if not todo:
        return 0
    tools = check_toolchain(prefix)
    os.environ.update(CC=tools["CC"], CXX=tools["CXX"])
    build = Path(a.build_dir) if a.build_dir else Path(tempfile.mkdtemp(prefix="stride_interfaces_"))
    build.mkdir(parents=True, exist_ok=True)
    print(f"building {', '.join(todo)} from {src} into {prefix} ({a.jobs} jobs; about 15-20 s a package "
          "on 2 cores)", flush=True)
    total = 0.0
    for pkg in todo:
        dt = build_one(pkg, src, build, prefix, python, a.jobs, tools["cmake"])
        total += dt
        print(f"  {pkg}: installed in {dt:.0f} s", flush=True)
    here = prefix == Path(sys.prefix).resolve()  # another prefix: its user puts it on the paths
    broken = [p for p in todo if here and not importable(p, python)]
    if broken:
        raise InputError(f"built, but {', '.join(broken)} does not import from {python} (logs: {build})")
    if not a.build_dir:
        shutil.rmtree(build, ignore_errors=True)
    print(f"done in {total:.0f} s: {', '.join(todo)} installed into {prefix}"
          + (f" (they import from {python})" if here else ""))
    return 0
