"""The Explore page's "What the network sees" and `python -m core deconv`, on the tiny zoo."""

import json

import numpy as np
import pytest
from PIL import Image

from core.datasets.generated import generate_face
from core.explain import METHODS, activations, deconvolve, receptive_field
from core.faces import prepare_face
from core.media import load_image
from core.models import load_model
from core.models.inputs import to_tensor
from tests.test_cli import cli
from tests.test_pages import run_page, texts

VIEWS = ("**Deconvolution**", "**Feature map**", "**Receptive field**")


def check_clean(app) -> None:
    assert not app.exception, app.exception
    assert not app.error, [e.value for e in app.error]


def strongest_shown(app, layer: str) -> int:
    """The channel the picker says is the strongest, from its label."""
    label = app.number_input(key=f"channel-{layer}").label
    return int(label.rsplit("the strongest is ", 1)[1].rstrip(")"))


def test_explore_shows_feature_maps_deconvolution_and_attribution(use_tiny_zoo):
    app = run_page("explore")
    check_clean(app)
    assert app.selectbox(key="model").value == "fan2019-tiny"
    layer = app.selectbox(key="layer")
    assert layer.value == "features.conv3", "the last conv layer by default"
    assert "conv2 (2nd conv, 16 maps of 24x24)" in layer.options
    text = "\n".join([texts(app), *(m.value for m in app.markdown)])
    assert "The 32 feature maps of conv3" in text
    assert all(view in text for view in VIEWS)
    assert "receptive field of one unit of conv3" in text
    channel = app.number_input(key="channel-features.conv3").value
    assert channel == strongest_shown(app, "features.conv3"), "the strongest map by default"
    assert app.selectbox(key="method").value == "grad_cam"
    assert METHODS["grad_cam"].note in text
    # face, crop, feature-map grid, three deconvolution views, attribution
    assert len(app.get("image")) == 7
    assert len(app.get("download_button")) >= 2 * 5 + 2, "PNG and SVG of every figure"
    assert app.query_params["layer"] == ["features.conv3"]
    assert app.query_params["channel"] == [str(channel)]
    assert app.query_params["method"] == ["grad_cam"]


@pytest.mark.parametrize("method", list(METHODS))
def test_every_attribution_method_draws_a_map(use_tiny_zoo, method):
    app = run_page("explore", method=method)
    check_clean(app)
    assert app.selectbox(key="method").value == method
    assert METHODS[method].note in texts(app)
    assert len(app.get("image")) == 7
    has_layer = any(box.key == "cam_layer" for box in app.selectbox)
    assert has_layer == METHODS[method].needs_layer


@pytest.mark.parametrize(
    "query",
    [
        {"layer": "nope", "channel": "9999", "method": "nope", "target": "nope", "cam_layer": "nope"},
        {"layer": "features.conv1", "channel": "abc"},
        {"layer": "features.conv1", "channel": "-3"},
        {"layer": "features.conv1", "channel": "9999"},
        {"model": "nope", "layer": "features.relu1"},  # a real module, but not a conv layer offered
    ],
)
def test_bad_url_values_fall_back_to_defaults(use_tiny_zoo, query):
    app = run_page("explore", **query)
    check_clean(app)
    assert app.selectbox(key="model").value == "fan2019-tiny"
    layer = app.selectbox(key="layer").value
    expected = query["layer"] if query["layer"] == "features.conv1" else "features.conv3"
    assert layer == expected, "a conv layer named in the URL is kept; anything else: the last one"
    assert app.number_input(key=f"channel-{layer}").value == strongest_shown(app, layer)
    assert app.selectbox(key="method").value == "grad_cam"
    assert "(predicted)" in app.selectbox(key="target").format_func(app.selectbox(key="target").value)


def test_a_link_restores_the_whole_view(use_tiny_zoo):
    query = {"model": "breuer2017-tiny", "layer": "features.conv2a", "channel": "3"}
    app = run_page("explore", **query, method="guided_grad_cam", target="sad", cam_layer="features.conv3b")
    check_clean(app)
    assert app.selectbox(key="model").value == "breuer2017-tiny"
    assert app.selectbox(key="layer").value == "features.conv2a"
    assert app.number_input(key="channel-features.conv2a").value == 3
    assert app.selectbox(key="method").value == "guided_grad_cam"
    assert app.selectbox(key="target").value == "sad"
    assert app.selectbox(key="cam_layer").value == "features.conv3b"
    assert "Map 3" in texts(app)


def test_a_new_layer_starts_at_its_strongest_map(use_tiny_zoo):
    app = run_page("explore", layer="features.conv3", channel="5")
    assert app.number_input(key="channel-features.conv3").value == 5
    app.selectbox(key="layer").set_value("features.conv1").run()
    check_clean(app)
    assert app.number_input(key="channel-features.conv1").value == strongest_shown(app, "features.conv1")
    assert app.query_params["layer"] == ["features.conv1"]
    app.number_input(key="channel-features.conv1").set_value(2).run()
    check_clean(app)
    assert app.query_params["channel"] == ["2"]
    assert "Map 2" in texts(app)


# --- python -m core deconv ---


@pytest.fixture
def aligned_face(tmp_path):
    path = tmp_path / "face.png"
    Image.fromarray(generate_face("happy", 48, 0)).save(path)
    return path


def strongest_channel(model, x, layer: str) -> int:
    maps = activations(model, x, [layer])[layer][0]
    return int(maps.flatten(1).max(1).values.argmax())


def test_deconv_cli_writes_the_projection_and_its_picture(use_tiny_zoo, aligned_face, tmp_path):
    model = load_model("fan2019-tiny")
    crop = prepare_face(load_image(aligned_face), None, aligned=True).crop.image
    x = to_tensor(crop[None])
    channel = strongest_channel(model, x, "features.conv2")
    expected = deconvolve(model, x, "features.conv2", channel).numpy()
    assert np.abs(expected).max() > 0, "a map that fires, so the comparison means something"

    common = [str(aligned_face), "--model", "fan2019-tiny", "--layer", "conv2", "--channel", str(channel)]
    result = cli("deconv", *common, "--aligned", "--out", str(tmp_path / "projection.npy"))
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert (out["layer"], out["channel"], out["fired"]) == ("features.conv2", channel, True)
    projection = np.load(tmp_path / "projection.npy")
    assert projection.shape == (1, 1, 48, 48) and projection.dtype == np.float32
    np.testing.assert_allclose(projection, expected, rtol=1e-5, atol=1e-7)
    where = (out["location"]["row"], out["location"]["column"])
    field = out["receptive_field"]
    assert (field["top"], field["left"], field["bottom"], field["right"]) == receptive_field(
        model, "features.conv2", where
    )
    outside = projection[0, 0].copy()
    outside[field["top"] : field["bottom"], field["left"] : field["right"]] = 0
    assert not outside.any(), "the projection lies inside the receptive field"

    result = cli("deconv", *common, "--aligned", "--out", str(tmp_path / "projection.png"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["value"] == out["value"]
    picture = Image.open(tmp_path / "projection.png")
    assert picture.size == (192, 192), "48 px enlarged x4"


def test_deconv_cli_finds_the_face_like_predict(use_tiny_zoo, tmp_path):
    Image.fromarray(generate_face("surprise", 256, 3)).save(tmp_path / "photo.png")
    out_file = tmp_path / "sub" / "map.png"
    result = cli("deconv", str(tmp_path / "photo.png"), "--model", "fan2019-tiny", "--layer", "features.conv1",
                 "--channel", "0", "--out", str(out_file))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert Image.open(out_file).size == (192, 192)


@pytest.mark.parametrize(
    ("layer", "channel", "out", "message"),
    [
        ("nope", "0", "p.npy", "no layer 'nope'"),
        ("fc1", "0", "p.npy", "no layer 'fc1'"),
        ("conv2", "9999", "p.npy", "Channel 9999 does not exist"),
        ("conv2", "0", "p.jpg", "--out must end in .png"),
    ],
)
def test_deconv_cli_refuses_bad_arguments_in_one_line(
    use_tiny_zoo, aligned_face, tmp_path, layer, channel, out, message
):
    result = cli("deconv", str(aligned_face), "--model", "fan2019-tiny", "--layer", layer, "--channel", channel,
                 "--aligned", "--out", str(tmp_path / out))  # fmt: skip
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.strip().count("\n") == 0
    assert message in result.stderr
    assert not (tmp_path / out).exists()
