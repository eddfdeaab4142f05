"""The filter atlas (Zeiler & Fergus 2014, figure 2): the top faces of every channel against
brute force, locations, boxes and deconvolutions against the one-face functions, the store,
the CLI and real data."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.datasets import read_dataset
from core.errors import InputError
from core.explain import activations, deconvolve, receptive_field, strongest
from core.explain.atlas import (
    Atlas,
    atlas_for_dataset,
    build_atlas,
)
from core.explain.figures import filter_sheet, layer_overview, write_atlas
from core.models.architectures import BreuerNet, FanNet, fold_batch_norm
from core.models.inputs import crops_from_samples, to_tensor
from core.models.layers import conv_layers, resolve_layers
from core.store import ResultStore

REPO = Path(__file__).resolve().parents[1]
N_FACES, TOP = 40, 4


# Batch-one work is fastest on one thread while other work holds the cores.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def seeded(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    for module in model.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return model.eval()


@pytest.fixture(scope="module")
def fan() -> FanNet:
    return seeded(FanNet(width=0.25))


@pytest.fixture(scope="module")
def breuer() -> BreuerNet:
    return fold_batch_norm(seeded(BreuerNet(width=0.125, batch_norm=True)))


@pytest.fixture(scope="module")
def crops() -> np.ndarray:
    """Smooth random faces: blurred noise, so maps have structure and no exact ties."""
    rng = np.random.default_rng(0)
    noise = torch.as_tensor(rng.normal(size=(N_FACES, 1, 56, 56)), dtype=torch.float32)
    smooth = torch.nn.functional.avg_pool2d(noise, 9, stride=1)[:, 0]
    scaled = (smooth - smooth.min()) / (smooth.max() - smooth.min()) * 255
    return scaled.round().to(torch.uint8).numpy()


def ids(n: int) -> list[str]:
    return [f"face_{i:03d}.png" for i in range(n)]


@pytest.fixture(scope="module")
def fan_atlas(fan, crops) -> Atlas:
    return build_atlas(fan, crops, ids(len(crops)), top=TOP, batch_size=7)


def brute_force(model: torch.nn.Module, crops: np.ndarray, layer: str, top: int):
    """All activations at once; per channel the faces by maximum, largest first, ties to the first face."""
    act = activations(model, to_tensor(crops), [layer])[layer]
    peaks = act.flatten(2).max(dim=2).values.T  # (C, N)
    order = torch.sort(peaks, dim=1, descending=True, stable=True).indices[:, :top]
    return order.numpy(), peaks.gather(1, order).numpy()


@pytest.mark.parametrize("arch", ["fan", "breuer"])
def test_top_faces_are_the_brute_force_ordering(arch, request, crops):
    model = request.getfixturevalue(arch)
    atlas = build_atlas(model, crops, ids(len(crops)), top=TOP, batch_size=7)
    assert atlas.layers == conv_layers(model)
    for layer in atlas.layers:
        order, values = brute_force(model, crops, layer, TOP)
        maps = atlas.maps[layer]
        np.testing.assert_array_equal(maps.faces, order)
        np.testing.assert_allclose(maps.values, values, rtol=1e-5, atol=1e-6)
        assert (maps.source_ids == np.array(ids(len(crops)))[order]).all()
    # Deep layers of untrained nets project ~1e-6: stored relative to each peak, no precision is lost.
    layer = atlas.layers[-1]
    for channel in range(4):
        face = int(atlas.maps[layer].faces[channel, 0])
        expected = deconvolve(model, to_tensor(crops[face][None]), layer, channel)[0, 0].numpy()
        scale = max(float(np.abs(expected).max()), 1e-30)
        np.testing.assert_allclose(atlas.maps[layer].projection(channel, 0), expected, atol=1e-3 * scale)


def test_locations_boxes_and_deconvolutions_match_the_one_face_functions(fan, crops, fan_atlas):
    for layer in fan_atlas.layers:
        for channel in range(fan_atlas.maps[layer].channels):
            for row in fan_atlas.filter(layer, channel):
                x = to_tensor(crops[row["face_index"]][None])
                (value, where), = strongest(activations(fan, x, [layer])[layer][0], channel)  # fmt: skip
                assert row["location"] == where
                assert row["value"] == pytest.approx(value, rel=1e-5, abs=1e-6)
                assert row["box"] == receptive_field(fan, layer, where)
                expected = deconvolve(fan, x, layer, channel)[0, 0].numpy()
                scale = max(float(np.abs(expected).max()), 1e-30)
                # float16 storage relative to the peak: about 3 significant digits of it
                np.testing.assert_allclose(row["deconvolution"], expected, atol=1e-3 * scale)
                assert (row["face"] == crops[row["face_index"]]).all()
                top, left, bottom, right = row["box"]
                assert (row["patch"] == row["face"][top:bottom, left:right]).all()


def test_batch_size_does_not_change_the_atlas(fan, crops, fan_atlas):
    other = build_atlas(fan, crops, ids(len(crops)), top=TOP, batch_size=64)
    for layer in fan_atlas.layers:
        a, b = fan_atlas.maps[layer], other.maps[layer]
        np.testing.assert_array_equal(a.faces, b.faces)
        np.testing.assert_array_equal(a.locations, b.locations)
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_allclose(a.values, b.values, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(a.deconvolutions, b.deconvolutions, atol=2e-3)
        np.testing.assert_allclose(a.deconvolution_peaks, b.deconvolution_peaks, rtol=1e-4)
    np.testing.assert_array_equal(fan_atlas.face_indices, other.face_indices)


def test_equal_faces_tie_to_the_first_and_top_is_capped(fan, crops):
    doubled = crops[:10].copy()
    doubled[8] = doubled[2]  # FER2013 holds many byte-identical faces
    atlas = build_atlas(fan, doubled, ids(10), top=50, batch_size=1)
    assert atlas.top == 10
    for maps in atlas.maps.values():
        for channel_faces in maps.faces:
            ranks = list(channel_faces)
            assert ranks.index(8) == ranks.index(2) + 1


def test_memory_kept_is_the_winners_only(fan_atlas, crops):
    winners = np.unique(np.concatenate([m.faces.ravel() for m in fan_atlas.maps.values()]))
    np.testing.assert_array_equal(fan_atlas.face_indices, winners)
    assert (fan_atlas.crops == crops[winners]).all() and fan_atlas.crops.dtype == np.uint8
    maps = fan_atlas.maps["features.conv2"]
    assert maps.deconvolutions.dtype == np.float16 and maps.deconvolutions.shape == (16, TOP, 48, 48)
    assert maps.locations.shape == (16, TOP, 2) and maps.boxes.shape == (16, TOP, 4)


def test_bytes_round_trip(fan_atlas):
    back = Atlas.from_bytes(fan_atlas.to_bytes())
    assert (back.model_sha256, back.data_fingerprint, back.top, back.layers, back.n_faces) == (
        fan_atlas.model_sha256, fan_atlas.data_fingerprint, TOP, fan_atlas.layers, N_FACES,
    )  # fmt: skip
    for layer in fan_atlas.layers:
        names = (
            "values",
            "faces",
            "source_ids",
            "locations",
            "boxes",
            "deconvolutions",
            "deconvolution_peaks",
        )
        for name in names:
            np.testing.assert_array_equal(
                getattr(back.maps[layer], name), getattr(fan_atlas.maps[layer], name)
            )
    np.testing.assert_array_equal(back.crops, fan_atlas.crops)
    assert back.layer_summary("features.conv3") == fan_atlas.layer_summary("features.conv3")
    with pytest.raises(InputError):
        Atlas.from_bytes(b"not an atlas")


def test_summary_pictures_and_errors(fan, fan_atlas, crops):
    summary = fan_atlas.layer_summary("features.conv1")
    assert [row["channel"] for row in summary] == list(range(8))
    first = fan_atlas.filter("features.conv1", 0)
    assert (
        summary[0]["strongest"] == first[0]["value"] and summary[0]["top_source_id"] == first[0]["source_id"]
    )
    assert summary[0]["mean_top"] == pytest.approx(np.mean([row["value"] for row in first]))
    sheet = filter_sheet(fan_atlas, "features.conv1", 0, scale=2)
    assert sheet.dtype == np.uint8 and sheet.shape == (TOP * 98 - 2, 4 * 98 - 2, 3)
    assert layer_overview(fan_atlas, "features.conv3").shape == (6 * 50 - 2, 6 * 50 - 2, 3)
    assert layer_overview(fan_atlas, "features.conv3", ranks=4, crop=False, columns=8).shape[2] == 3
    with pytest.raises(InputError, match="channels"):
        fan_atlas.filter("features.conv1", 8)
    with pytest.raises(InputError, match="no layer"):
        fan_atlas.layer_summary("features.conv9")
    assert resolve_layers(fan, ["conv2", "features.conv1"]) == ["features.conv2", "features.conv1"]
    with pytest.raises(InputError, match="conv1"):
        build_atlas(fan, crops, ids(len(crops)), layers=["classifier.fc1"])
    with pytest.raises(InputError, match="uint8"):
        build_atlas(fan, crops.astype(np.float32), ids(len(crops)))


def test_chosen_layers_and_inside_inference_mode(fan, crops, fan_atlas):
    with torch.inference_mode():
        atlas = build_atlas(fan, crops, ids(len(crops)), layers=["conv3"], top=TOP)
    assert atlas.layers == ["features.conv3"]
    np.testing.assert_array_equal(atlas.maps["features.conv3"].faces, fan_atlas.maps["features.conv3"].faces)


def test_a_second_visit_comes_from_the_store(fan, tmp_path):
    store = ResultStore(tmp_path / "results.sqlite")
    calls = []

    def progress(fraction: float, message: str) -> None:
        calls.append(message)

    first = atlas_for_dataset(fan, "generated", None, split="test", top=2, store=store, progress=progress)
    assert not first.from_store and any("deconvolving" in m for m in calls)
    calls.clear()
    second = atlas_for_dataset(fan, "generated", None, split="test", top=2, store=store, progress=progress)
    assert second.from_store and not any("deconvolving" in m or "strongest" in m for m in calls)
    assert second.data_fingerprint == first.data_fingerprint and second.n_faces == 7
    for layer in first.layers:
        np.testing.assert_array_equal(second.maps[layer].deconvolutions, first.maps[layer].deconvolutions)
    other = atlas_for_dataset(fan, "generated", None, split="test", top=3, store=store)
    assert not other.from_store and other.top == 3  # another key: built, not read
    assert first.maps["features.conv1"].source_ids[0, 0].startswith("generated/")


def test_write_atlas_files(fan_atlas, tmp_path):
    written = write_atlas(fan_atlas, tmp_path / "out")
    assert len(written) == 1 + 3 + 8 + 16 + 32
    data = json.loads((tmp_path / "out" / "atlas.json").read_text())
    entry = data["layers"]["features.conv2"][5]["top"][0]
    assert entry["rank"] == 1 and len(entry["box"]) == 4 and len(entry["location"]) == 2
    assert Image.open(tmp_path / "out" / "features.conv2" / "channel_5.png").mode == "RGB"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core", *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def write_fer2013_csv(path: Path, crops: np.ndarray) -> None:
    """A tiny FER2013 csv in the real Kaggle format."""
    lines = ["emotion,pixels,Usage"]
    lines += [f"{i % 7},{' '.join(map(str, crop.ravel()))},Training" for i, crop in enumerate(crops)]
    path.write_text("\n".join(lines) + "\n")


def test_cli_writes_the_atlas_and_refuses_a_wrong_folder(use_tiny_zoo, crops, tmp_path):
    write_fer2013_csv(tmp_path / "fer2013.csv", crops)
    out = tmp_path / "atlas"
    args = ["atlas", "--model", "fan2019-tiny", "--format", "fer2013", "--top", "3", "--out", str(out)]
    result = cli(*args, "--root", str(tmp_path / "fer2013.csv"), "--layers", "conv1,conv3")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["faces"] == N_FACES and summary["layers"] == {"features.conv1": 8, "features.conv3": 32}
    data = json.loads((out / "atlas.json").read_text())
    assert len(data["layers"]["features.conv3"]) == 32
    assert [e["source_id"] for e in data["layers"]["features.conv1"][0]["top"]][0].startswith("fer2013.csv#")
    assert (out / "features.conv1.png").is_file() and (out / "features.conv3" / "channel_31.png").is_file()

    result = cli(*args, "--root", str(tmp_path / "missing"))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.strip().count("\n") == 0


def test_real_ckplus_faces(data_dir, fan):
    samples = read_dataset("ckplus", data_dir / "ckplus48")[:300]
    crops = crops_from_samples(samples)
    atlas = build_atlas(fan, crops, [s.source_id for s in samples], top=5)
    assert atlas.n_faces == 300 and atlas.crops.shape[1:] == (48, 48)
    for layer, channels in zip(atlas.layers, (8, 16, 32), strict=True):
        maps = atlas.maps[layer]
        assert maps.values.shape == (channels, 5) and maps.deconvolutions.shape == (channels, 5, 48, 48)
        assert maps.faces.max() < 300 and maps.boxes.shape == (channels, 5, 4)
