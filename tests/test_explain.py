"""core.explain: activations, the safety check, the deconvnet against an independent hand-written
one, receptive fields, and the attribution methods on networks whose answer is planted."""

import time
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from core.errors import InputError
from core.explain import (
    METHODS,
    UnsafeModelError,
    activations,
    check_attribution_safe,
    deconvolve,
    deconvolve_top_k,
    explain,
    feature_layers,
    receptive_field,
    strongest,
)
from core.explain.attributions import GradCamMap, GuidedBackpropMap, IntegratedGradientsMap, OcclusionMap
from core.models.architectures import BreuerNet, FanNet, fold_batch_norm
from core.models.layers import conv_layers

TOLERANCE = 1e-5


# Batch-one work is fastest on one thread while other work holds the cores.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def faces(n: int, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(1, 1, 48, 48, generator=generator) for _ in range(n)]


def seeded(model: nn.Module, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    for module in model.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return model.eval()


# --- an independent deconvnet and guided backprop, by hand over the Sequential ---------------


def forward_steps(modules: list[nn.Module], x: torch.Tensor) -> tuple[torch.Tensor, list]:
    """Run the modules in order; remember each one's input shape, ReLU input and pooling switches."""
    steps, h = [], x
    for module in modules:
        if isinstance(module, nn.MaxPool2d):
            out, switches = F.max_pool2d(
                h, module.kernel_size, module.stride, module.padding, return_indices=True
            )
            steps.append((module, h, switches))
            h = out
        else:
            steps.append((module, h, None))
            h = module(h)
    return h, steps


def unpool(signal: torch.Tensor, switches: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Each pooled value goes to its switch; where overlapping windows share a switch, they add."""
    flat = torch.zeros(shape[0], shape[1], shape[2] * shape[3])
    flat.scatter_add_(2, switches.flatten(2), signal.flatten(2))
    return flat.view(shape)


def backward_steps(steps: list, signal: torch.Tensor, guided: bool) -> torch.Tensor:
    """Down through the recorded steps: the deconvnet (guided=False) or guided backprop (True)."""
    for module, h, switches in reversed(steps):
        if isinstance(module, nn.ReLU):
            signal = F.relu(signal) * (h > 0) if guided else F.relu(signal)
        elif isinstance(module, nn.MaxPool2d):
            signal = unpool(signal, switches, h.shape)
        elif isinstance(module, nn.Conv2d):
            signal = F.conv_transpose2d(signal, module.weight, None, module.stride, module.padding)
        elif isinstance(module, nn.Linear):
            signal = signal @ module.weight
        elif isinstance(module, nn.Flatten):
            signal = signal.view(h.shape)
        elif not isinstance(module, nn.Dropout):  # dropout is the identity in eval mode
            raise AssertionError(f"no rule for {module}")
        assert signal.shape == h.shape
    return signal


def reference_deconv(model: nn.Module, x: torch.Tensor, layer: str, channel: int) -> torch.Tensor:
    """Zeiler & Fergus 2014 by hand: keep the channel's first maximum, then go down."""
    names = [f"features.{name}" for name, _ in model.features.named_children()]
    modules = list(model.features.children())[: names.index(layer) + 1]
    with torch.no_grad():
        top, steps = forward_steps(modules, x)
        plane = top[0, channel].flatten()
        where = int(torch.argmax(plane))  # documented: the first maximal value
        if plane[where] <= 0:
            return torch.zeros_like(x)
        signal = torch.zeros_like(top)
        signal[0, channel].view(-1)[where] = plane[where]
        return backward_steps(steps, signal, guided=False)


def reference_guided_backprop(model: nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    modules = list(model.features.children()) + list(model.classifier.children())
    with torch.no_grad():
        logits, steps = forward_steps(modules, x)
        return backward_steps(steps, F.one_hot(torch.tensor([target]), logits.shape[1]).float(), guided=True)


def unit_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    if a.norm() == 0 and b.norm() == 0:
        return 0.0
    return float((a / a.norm() - b / b.norm()).norm())


def assert_same_projection(ours: torch.Tensor, reference: torch.Tensor) -> None:
    assert ours.shape == reference.shape
    assert unit_difference(ours, reference) <= TOLERANCE
    assert float((ours.norm() - reference.norm()).abs()) <= TOLERANCE * float(reference.norm()) + 1e-12


class OverlapNet(nn.Module):
    """The same pieces with overlapping pooling windows (3x3, stride 2), as in AlexNet."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            OrderedDict(
                [
                    ("conv1", nn.Conv2d(1, 6, 5, padding=2)),
                    ("relu1", nn.ReLU()),
                    ("pool1", nn.MaxPool2d(3, stride=2, padding=1)),
                    ("conv2", nn.Conv2d(6, 8, 3, padding=1)),
                    ("relu2", nn.ReLU()),
                    ("pool2", nn.MaxPool2d(3, stride=2, padding=1)),
                    ("conv3", nn.Conv2d(8, 8, 3, padding=1)),
                ]
            )
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(8 * 12 * 12, 3))

    def forward(self, x):
        return self.classifier(self.features(x))


def channels_to_test(model: nn.Module, x: torch.Tensor, layer: str) -> list[int]:
    """The channel with the largest maximum (sure to fire) and one seeded pick."""
    act = activations(model, x, [layer])[layer][0]
    best = int(act.flatten(1).amax(1).argmax())
    other = int(torch.randint(act.shape[0], (1,), generator=torch.Generator().manual_seed(len(layer))))
    return sorted({best, other})


MODELS = {
    "fan": lambda: seeded(FanNet(), 1),
    "breuer": lambda: seeded(BreuerNet(width=0.5), 2),
    "overlap": lambda: seeded(OverlapNet(), 3),
}
LAYERS = {
    "fan": ["features.conv1", "features.conv2", "features.conv3", "features.relu2", "features.pool2"],
    "breuer": [*conv_layers(BreuerNet(width=0.125)), "features.relu1b", "features.pool2"],
    "overlap": ["features.conv1", "features.pool1", "features.conv2", "features.relu2", "features.conv3"],
}


@pytest.fixture(scope="module")
def models() -> dict[str, nn.Module]:
    return {name: build() for name, build in MODELS.items()}


@pytest.mark.parametrize("arch", MODELS)
def test_deconvolve_matches_the_hand_written_deconvnet(models, arch):
    model = models[arch]
    tested = 0
    for layer in LAYERS[arch]:
        for x in faces(3, seed=len(layer)):
            for channel in channels_to_test(model, x, layer):
                assert_same_projection(
                    deconvolve(model, x, layer, channel), reference_deconv(model, x, layer, channel)
                )
                tested += 1
    assert tested >= 3 * len(LAYERS[arch])


def test_overlapping_windows_share_switches_and_add_up(models, monkeypatch):
    # With 3x3 windows at stride 2 one input pixel can win two windows; unpooling must then
    # add both contributions. F.max_unpool2d assigns instead, so it must give another answer
    # here: that is what makes this a test of the scatter-add.
    model = models["overlap"]
    x = faces(1, seed=7)[0]
    _, steps = forward_steps(list(model.features.children())[:3], x)
    switches = steps[2][2][0, 0].flatten()
    assert len(switches.unique()) < len(switches)
    layer = "features.conv2"
    ours = deconvolve(model, x, layer, 0)
    assert_same_projection(ours, reference_deconv(model, x, layer, 0))

    def assigning_unpool(signal, switches, shape):
        return F.max_unpool2d(signal, switches, 3, 2, 1, output_size=shape[-2:])

    monkeypatch.setattr(f"{__name__}.unpool", assigning_unpool)
    assert unit_difference(ours, reference_deconv(model, x, layer, 0)) > 1e-3


def test_deconvolve_top_k_gives_one_projection_per_location(models):
    model, x, layer = models["fan"], faces(1, seed=3)[0], "features.conv2"
    top = deconvolve_top_k(model, x, layer, 4, 3)
    act = activations(model, x, [layer])[layer][0, 4]
    assert [value for value, _, _ in top] == sorted((value for value, _, _ in top), reverse=True)
    assert [where for _, where, _ in top] == [where for _, where in strongest(act[None], 0, 3)]
    for value, (i, j), projection in top:
        assert value == pytest.approx(float(act[i, j]))
        assert projection.shape == x.shape
    assert torch.equal(top[0][2], deconvolve(model, x, layer, 4))


def test_deconvolution_shape_and_zero_channel(models):
    model = seeded(FanNet(width=0.25), 5)
    with torch.no_grad():
        model.features.conv1.bias[0] = -1e3  # channel 0 of conv1 never fires
    x = faces(1)[0]
    for layer in ("features.conv1", "features.relu1"):
        projection = deconvolve(model, x, layer, 0)
        assert projection.shape == x.shape
        assert not projection.any()
    assert deconvolve(model, x, "features.conv1", 1).shape == x.shape


def hand_field(layer: str, i: int, j: int) -> tuple[int, int, int, int]:
    """FanNet by hand: conv1 is 5x5 pad 2; conv2 (3x3 pad 1) reads pool1 rows i-1..i+1, i.e.
    conv1 rows 2i-2..2i+3, i.e. pixels 2i-4..2i+5."""
    if layer == "features.conv1":
        rows, cols = (i - 2, i + 2), (j - 2, j + 2)
    else:
        rows, cols = (2 * i - 4, 2 * i + 5), (2 * j - 4, 2 * j + 5)
    return max(rows[0], 0), max(cols[0], 0), min(rows[1] + 1, 48), min(cols[1] + 1, 48)


@pytest.mark.parametrize("layer", ["features.conv1", "features.conv2"])
def test_receptive_field_by_hand_and_projection_support(models, layer):
    model = models["fan"]
    side = 48 if layer == "features.conv1" else 24
    for i, j in [(0, 0), (side - 1, side - 1), (side // 2, 3), (5, side - 2)]:
        assert receptive_field(model, layer, (i, j)) == hand_field(layer, i, j)
    for x in faces(4, seed=11):
        for channel in (0, 5):
            value, (i, j), projection = deconvolve_top_k(model, x, layer, channel, 1)[0]
            top, left, bottom, right = hand_field(layer, i, j)
            support = projection[0, 0] != 0
            inside = torch.zeros_like(support)
            inside[top:bottom, left:right] = True
            assert not (support & ~inside).any()  # nothing outside the receptive field
            if layer == "features.conv1" and value > 0:
                assert torch.equal(support, inside)  # one filter: the whole field, nothing else


def test_receptive_field_contains_the_support_in_deep_layers(models):
    for arch, layer in [("fan", "features.conv3"), ("fan", "features.pool3"), ("overlap", "features.conv3")]:
        model = models[arch]
        for x in faces(2, seed=13):
            _, where, projection = deconvolve_top_k(model, x, layer, 1, 1)[0]
            top, left, bottom, right = receptive_field(model, layer, where)
            outside = projection[0, 0].clone()
            outside[top:bottom, left:right] = 0
            assert not outside.any()


def test_deconvolve_refuses_what_it_cannot_do(models):
    x = faces(1)[0]
    with pytest.raises(UnsafeModelError, match="body calls a functional ReLU"):
        deconvolve(Outer("functional"), x, "body.conv1", 0)
    with pytest.raises(InputError, match="fold_batch_norm"):
        deconvolve(BreuerNet(width=0.125, batch_norm=True).eval(), x, "features.conv1a", 0)
    with pytest.raises(InputError, match="features.conv1, features.relu1"):
        deconvolve(models["fan"], x, "features.conv9", 0)
    with pytest.raises(InputError, match="conv, ReLU or max-pool"):
        deconvolve(models["fan"], x, "classifier.fc1", 0)
    with pytest.raises(InputError, match="does not output feature maps"):
        deconvolve(models["fan"], x, "classifier.relu_fc1", 0)
    with pytest.raises(InputError, match="channels"):
        deconvolve(models["fan"], x, "features.conv1", 999)
    with pytest.raises(InputError, match="one image"):
        deconvolve(models["fan"], torch.zeros(2, 1, 48, 48), "features.conv1", 0)
    with pytest.raises(InputError, match="no single layer"):
        receptive_field(models["fan"], "features", (0, 0))
    with pytest.raises(InputError, match="not defined through"):
        receptive_field(models["fan"], "classifier.fc1", (0, 0))


def test_works_inside_no_grad_and_inference_mode(models):
    # A page may wrap its work in either; the maps need autograd all the same.
    model, x = models["fan"], faces(1, seed=17)[0]
    expected = deconvolve(model, x, "features.conv2", 3)
    expected_map = explain(model, x, "guided_backprop", 1)
    with torch.no_grad():
        assert torch.equal(deconvolve(model, x, "features.conv2", 3), expected)
    with torch.inference_mode():
        inference_x = x.clone()
        assert torch.equal(deconvolve(model, inference_x, "features.conv2", 3), expected)
        assert np.array_equal(explain(model, inference_x, "guided_backprop", 1), expected_map)


@pytest.mark.parametrize("name", ["fan2019-tiny", "breuer2017-tiny"])
def test_stable_entry_point_on_zoo_models(use_tiny_zoo, name):
    # DESIGN.md: core.models.load_model(name) then core.explain.deconvolve(model, x, layer, channel).
    from core.models import load_model
    from core.models.inputs import to_tensor

    model = load_model(name)
    crop = np.random.default_rng(1).integers(0, 256, (1, 48, 48), dtype=np.uint8)
    x = to_tensor(crop)
    for layer in conv_layers(model):
        projection = deconvolve(model, x, layer, 0)
        assert projection.shape == x.shape
        assert_same_projection(projection, reference_deconv(model, x, layer, 0))


def test_deconvolution_speed_is_printed(models):
    """Informational (the real figure is bench/bench_deconv.py); the bound is generous slack."""
    for arch in ("fan", "breuer"):
        model, x = models[arch], faces(1)[0]
        for layer in conv_layers(model):
            deconvolve(model, x, layer, 0)
            start = time.perf_counter()
            deconvolve(model, x, layer, 0)
            ms = (time.perf_counter() - start) * 1000
            print(f"{arch} {layer}: {ms:.1f} ms")
            assert ms < 2000


# --- activations -------------------------------------------------------------------------------


def test_activations_in_one_forward_pass_and_hooks_removed(models):
    model, x = models["fan"], faces(2)[0]
    passes = []
    handle = model.register_forward_pre_hook(lambda *_: passes.append(1))
    try:
        acts = activations(model, x)
    finally:
        handle.remove()
    assert len(passes) == 1
    assert list(acts) == feature_layers(model)
    assert "features.conv1" in acts and "features.pool3" in acts and "classifier.relu_fc1" not in acts
    h = x
    for name, module in model.features.named_children():
        h = module(h)
        assert torch.equal(acts[f"features.{name}"], h.detach())
    assert all(not module._forward_hooks for module in model.modules())
    with pytest.raises(RuntimeError):
        activations(model, torch.zeros(1, 3, 48, 48))  # three channels: conv1 fails inside the pass
    assert all(not module._forward_hooks for module in model.modules())
    with pytest.raises(InputError, match="no layer"):
        activations(model, x, ["features.nope"])


def test_strongest_orders_values_and_breaks_ties_in_reading_order():
    act = torch.zeros(2, 3, 4)
    act[1, 2, 3], act[1, 0, 1], act[1, 1, 0] = 5.0, 3.0, 3.0
    assert strongest(act, 1) == [(5.0, (2, 3))]
    assert strongest(act, 1, k=3) == [(5.0, (2, 3)), (3.0, (0, 1)), (3.0, (1, 0))]
    assert strongest(act, 0, k=2) == [(0.0, (0, 0)), (0.0, (0, 1))]
    with pytest.raises(InputError):
        strongest(act, 2)


# --- the safety check --------------------------------------------------------------------------


class Tiny(nn.Module):
    """Two conv/ReLU stages whose forward breaks the rules in the way `style` names."""

    def __init__(self, style: str):
        super().__init__()
        self.style = style
        self.conv1, self.relu1 = nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(inplace=style == "inplace_module")
        self.conv2, self.relu2 = nn.Conv2d(4, 4, 3, padding=1), nn.ReLU()

    def forward(self, x):
        h, style = self.conv1(x), self.style
        if style == "functional":
            h = F.relu(h)
        elif style == "torch_relu":
            h = torch.relu(h)
        elif style == "method":
            h = h.relu()
        elif style == "relu_":
            h = h.relu_()
        elif style == "inplace_functional":
            h = F.relu(h, inplace=True)
        elif style == "untraceable":
            h = F.relu(h) if h.sum() > -1e9 else h  # data-dependent: fx cannot trace this
        elif style == "untraceable_safe":
            h = self.relu1(h) if h.sum() > -1e9 else h
        else:
            h = self.relu1(h)
        if style == "iadd":
            h += 1  # fx records an out-of-place add; only the forward-pass check sees it
        h = self.conv2(h)
        if style == "conv_twice":
            h = self.conv2(h)
        return (self.relu1 if style == "reused" else self.relu2)(h)


class Outer(nn.Module):
    def __init__(self, style: str):
        super().__init__()
        self.body = Tiny(style)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * 48 * 48, 3))

    def forward(self, x):
        return self.head(self.body(x))


UNSAFE = {
    "functional": "body calls a functional ReLU (relu)",
    "torch_relu": "body calls a functional ReLU (relu)",
    "method": "body calls a functional ReLU (relu)",
    "relu_": ("body calls a functional ReLU (relu_)", "body modifies a tensor in place (relu_)"),
    "inplace_functional": "body calls relu with inplace=True",
    "inplace_module": "body.relu1 has inplace=True",
    "reused": "body.relu1 is one ReLU module called 2 times",
    "conv_twice": "body.conv2 is one module called 2 times",
    "iadd": "body modifies a tensor in place",
    "untraceable": "body calls a functional ReLU (relu)",
}


@pytest.mark.parametrize("style", UNSAFE)
def test_unsafe_models_are_refused_with_module_and_reason(style):
    with pytest.raises(UnsafeModelError) as error:
        check_attribution_safe(Outer(style).eval())
    expected = UNSAFE[style]
    for part in (expected,) if isinstance(expected, str) else expected:
        assert part in str(error.value)
    assert isinstance(error.value, InputError)


@pytest.mark.parametrize(
    "build",
    [
        lambda: FanNet(),
        lambda: BreuerNet(width=0.5),
        lambda: BreuerNet(width=0.25, batch_norm=True),
        lambda: fold_batch_norm(BreuerNet(width=0.25, batch_norm=True).eval()),
        lambda: Outer("untraceable_safe"),
        lambda: Outer("plain"),
    ],
)
def test_shipped_architectures_are_safe(build):
    model = build().eval()
    check_attribution_safe(model)
    assert all(not module._forward_hooks and not module._forward_pre_hooks for module in model.modules())


def test_verdict_is_cached_per_model(monkeypatch):
    model = FanNet(width=0.25).eval()
    check_attribution_safe(model)

    def no_tracing(*_args, **_kwargs):
        raise AssertionError("traced again")

    monkeypatch.setattr(torch.fx, "symbolic_trace", no_tracing)
    check_attribution_safe(model)


def test_check_keeps_a_training_model_in_training_mode():
    model = BreuerNet(width=0.125, batch_norm=True).train()
    before = model.features.bn1a.running_mean.clone()
    check_attribution_safe(model)
    assert model.training and model.features.bn1a.training
    assert torch.equal(model.features.bn1a.running_mean, before)


# --- attribution maps --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_fan() -> nn.Module:
    return seeded(FanNet(width=0.25), 4)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_gives_an_input_sized_map(small_fan, method):
    x = faces(1, seed=21)[0]
    heat = explain(small_fan, x, method, target=3)
    assert heat.shape == (48, 48) and heat.dtype == np.float32 and np.isfinite(heat).all()
    crop = np.random.default_rng(0).integers(0, 256, (48, 48), dtype=np.uint8)
    assert explain(small_fan, crop, method, target=3).shape == (48, 48)
    assert METHODS[method].label


def test_method_classes_in_three_lines(small_fan):
    x = faces(1)[0]
    assert GuidedBackpropMap(small_fan).attribute(x, target=0).shape == (1, 1, 48, 48)
    assert GradCamMap(small_fan, "features.conv2").attribute(x, target=0).shape == (1, 1, 48, 48)
    with pytest.raises(InputError, match="classes"):
        GuidedBackpropMap(small_fan).attribute(x, target=7)
    with pytest.raises(InputError, match="Unknown attribution"):
        explain(small_fan, x, "lime", 0)
    with pytest.raises(UnsafeModelError):
        GuidedBackpropMap(Outer("reused").eval())


def test_guided_backprop_equals_the_hand_computed_one(small_fan):
    for x in faces(3, seed=31):
        for target in (0, 4):
            ours = GuidedBackpropMap(small_fan).attribute(x, target)
            assert unit_difference(ours, reference_guided_backprop(small_fan, x, target)) <= TOLERANCE


class Planted(nn.Module):
    """Class 0 = the summed bright-detector maps in the upper-left quadrant only; class 1 = the
    summed dark-detector maps everywhere. conv2 (1x1, identity) is the layer Grad-CAM reads."""

    def __init__(self):
        super().__init__()
        conv1, conv2 = nn.Conv2d(1, 2, 3, padding=1), nn.Conv2d(2, 2, 1)
        fc = nn.Linear(2 * 24 * 24, 2, bias=False)
        with torch.no_grad():
            conv1.weight[0], conv1.weight[1] = 1 / 9, -1 / 9  # local mean, and minus it
            conv1.bias.fill_(-1.0)  # fires only where the face is brighter (darker) than +-1
            conv2.weight.copy_(torch.eye(2)[:, :, None, None])
            conv2.bias.zero_()
            quadrant = torch.zeros(2, 24, 24)
            quadrant[0, :12, :12] = 1
            fc.weight.zero_()
            fc.weight[0] = quadrant.flatten()
            fc.weight[1, 24 * 24 :] = 1
        self.features = nn.Sequential(
            OrderedDict([("conv1", conv1), ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2, 2)),
                         ("conv2", conv2), ("relu2", nn.ReLU())])
        )  # fmt: skip
        self.classifier = nn.Sequential(OrderedDict([("flatten", nn.Flatten()), ("fc", fc)]))
        self.eval()

    def forward(self, x):
        return self.classifier(self.features(x))


def upper_left_share(heat: np.ndarray) -> float:
    mass = np.abs(heat)
    return float(mass[:24, :24].sum() / mass.sum())


def test_grad_cam_finds_the_planted_quadrant():
    # Grad-CAM weighs whole maps by their mean gradient, so it localises where the class's
    # feature is: here bright skin, present only in the upper-left quadrant.
    generator = torch.Generator().manual_seed(0)
    x = -1.8 + 0.1 * torch.randn(1, 1, 48, 48, generator=generator)
    x[..., :24, :24] += 3.6
    heat = explain(Planted(), x, "grad_cam", target=0, layer="features.conv2")
    assert upper_left_share(heat) > 0.9
    dark = explain(Planted(), x, "grad_cam", target=1, layer="features.conv2")
    assert upper_left_share(dark) < 0.1


def test_occlusion_and_guided_backprop_find_the_planted_quadrant():
    # Bright everywhere: only the upper-left pixels (plus conv1's 1-pixel border) reach class 0.
    x = 1.8 + 0.1 * torch.randn(1, 1, 48, 48, generator=torch.Generator().manual_seed(1))
    occlusion = explain(Planted(), x, "occlusion", target=0)
    assert upper_left_share(occlusion) > 0.75
    assert occlusion.min() >= 0  # gray windows only lower the bright detector's sum
    guided = explain(Planted(), x, "guided_backprop", target=0)
    assert guided[:24, :24].any() and not guided[25:].any() and not guided[:, 25:].any()
    assert (guided >= 0).all()  # positive filters, positive gradients
    assert not explain(Planted(), x, "guided_backprop", target=1).any()  # no dark pixel: no path


@pytest.mark.parametrize("baseline", ["black", "mean"])
def test_integrated_gradients_are_complete(small_fan, baseline):
    for x in faces(2, seed=41):
        method = IntegratedGradientsMap(small_fan, steps=32, baseline=baseline)
        reference = torch.full_like(x, -2.0 if baseline == "black" else 0.0)
        with torch.no_grad():
            gaps = small_fan(x)[0] - small_fan(reference)[0]
        target = int(gaps.abs().argmax())
        total = float(method.attribute(x, target).sum())
        assert total == pytest.approx(float(gaps[target]), rel=0.05)
        assert abs(method.delta) <= 0.05 * abs(float(gaps[target]))


def test_occlusion_window_options(small_fan):
    heat = OcclusionMap(small_fan, window=12, stride=6).attribute(faces(1)[0], target=2)
    assert heat.shape == (1, 1, 48, 48)


def _shipped_cnns() -> list[str]:
    from core.models.zoo import is_micro_card, read_manifest

    return [name for name, card in read_manifest().items() if not is_micro_card(card)]


@pytest.mark.parametrize("name", _shipped_cnns())
def test_every_shipped_cnn_deconvolves_exactly(name):
    """The shipped weights (batch norm folded) against the hand-written deconvnet, at every conv layer."""
    from core.models import load_model
    from core.models.inputs import to_tensor

    model = load_model(name)
    x = to_tensor(np.random.default_rng(3).integers(0, 256, (1, 48, 48), dtype=np.uint8))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()), "shipped folded"
    for layer in conv_layers(model):
        assert_same_projection(deconvolve(model, x, layer, 1), reference_deconv(model, x, layer, 1))
