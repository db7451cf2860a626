"""The ROS packages' usual lint tests (flake8-style, pep257 module docstrings, license notices),
through ruff with the repository's ruff.toml (line length 120)."""
import shutil
import subprocess
import sys

import pytest
from conftest import REPO


def test_ruff_passes():
    ruff = shutil.which("ruff") or shutil.which("ruff", path=str(REPO / ".venv" / "bin"))
    if ruff is None:
        pytest.skip("ruff is not installed (pip install '.[test]')")
    res = subprocess.run([ruff, "check", "--output-format", "concise", "."], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-1000:]


def test_every_python_file_names_its_license():
    """ament_copyright's job: each source file carries the package's license (MIT, package.xml)."""
    missing = []
    for path in sorted(list((REPO / "stride_ros").rglob("*.py")) + list((REPO / "launch").glob("*.py"))):
        head = path.read_text().splitlines()[:3]
        if not any("SPDX-License-Identifier: MIT" in line for line in head):
            missing.append(str(path.relative_to(REPO)))
    assert not missing, f"no 'SPDX-License-Identifier: MIT' in the first lines of: {missing}"


def test_package_xml_license_matches_setup():
    import xml.etree.ElementTree as ET
    root = ET.parse(REPO / "package.xml").getroot()
    assert root.findtext("license") == "MIT"
    assert 'license="MIT"' in (REPO / "setup.py").read_text()
    assert sys.version_info >= (3, 10)
