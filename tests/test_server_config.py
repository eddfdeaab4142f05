"""The server's locked-down defaults: this machine only, no tracebacks for users, XSRF on."""

import re
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: streamlit's own toml reader
    import toml as tomllib

REPO = Path(__file__).resolve().parents[1]


def _config() -> dict:
    return tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())  # both modules have loads()


def test_the_server_listens_on_this_machine_only_by_default():
    assert _config()["server"]["address"] == "127.0.0.1"
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^ADDRESS \?= 127\.0\.0\.1$", makefile, re.M)
    assert "--server.address=$(ADDRESS)" in makefile


def test_users_see_no_tracebacks_and_xsrf_is_on():
    config = _config()
    assert config["client"]["showErrorDetails"] == "none"
    assert config["server"]["enableXsrfProtection"] is True


def test_the_forward_message_cache_that_freezes_sessions_is_off():
    assert _config()["global"]["minCachedMessageSize"] >= 10**9


def test_the_dockerfile_says_how_to_serve_a_lab_safely():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "127.0.0.1:8501:8501" in dockerfile and "authenticates" in dockerfile
