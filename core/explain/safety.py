"""Is a model safe to explain with Captum and the deconvnet? Say exactly what is wrong if not.

Why this matters: Captum's Deconvolution and GuidedBackprop (and DeepLift) do not change
autograd itself; they hook every `nn.ReLU` *module* and replace the gradient that flows
through it (Springenberg et al. 2015, Striving for Simplicity: The All Convolutional Net;
Zeiler & Fergus 2014). So:

- a functional ReLU (`F.relu`, `torch.relu`, `x.relu()`, `relu_`) has no module to hook:
  its plain gradient is used and the map is silently wrong;
- a ReLU module used twice keeps one gradient per module (Captum's hook stores the last
  output gradient), so one of the two calls gets the other's gradient: silently wrong;
- an in-place operation (`nn.ReLU(inplace=True)`, `F.relu(..., inplace=True)`, `relu_`,
  `x += y`) overwrites a tensor that a hook or autograd saved for the backward pass;
- any module called twice in one forward records one output per module in forward hooks,
  so activations, deconvolution and layer attributions (Grad-CAM) see only one call.

How: torch.fx symbolic tracing reads the forward statically (call_function, call_method
and call_module nodes) where the model traces; then one forward pass on an example input
with forward hooks (calls per module) and a `TorchFunctionMode` (functional ReLUs and
in-place calls, attributed to the innermost module running) sees what tracing cannot,
e.g. `x += y`, which fx records as an out-of-place add, and models that do not trace at
all. Module attributes (`inplace=True`) are scanned too.

The verdict is cached per model object (a model that passed is not traced again); a
model changed after it passed is not re-checked.
"""

import weakref
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.fx
from torch import nn
from torch.overrides import TorchFunctionMode

from core.errors import InputError
from core.models.lock import model_lock

INPUT_SIZE = 48
RELU_NAMES = {"relu", "relu_"}
# In-place Python operators (`x += y`) reach torch as these names, or as the method (`add_`).
INPLACE_DUNDERS = {"__iadd__", "__isub__", "__imul__", "__itruediv__", "__ifloordiv__", "__ipow__",
                   "__imod__", "__iand__", "__ior__", "__ixor__", "__ilshift__", "__irshift__"}  # fmt: skip

_verdicts: "weakref.WeakKeyDictionary[nn.Module, bool]" = weakref.WeakKeyDictionary()


class UnsafeModelError(InputError):
    """A model whose attributions would be silently wrong; the message says where and why."""


@contextmanager
def gradients_on() -> Iterator[None]:
    """Autograd on, also inside a caller's `no_grad` or `inference_mode` (attributions need it)."""
    with torch.inference_mode(False), torch.enable_grad():
        yield


def check_attribution_safe(model: nn.Module, example_input: torch.Tensor | None = None) -> None:
    """Raise UnsafeModelError naming every module that breaks Captum's ReLU hooks, else return.

    `example_input` (a batch as the model takes it) drives the forward-pass check; without
    it a zero (1, C, 48, 48) batch is used, C taken from the first conv layer.
    """
    if _verdicts.get(model):
        return
    with model_lock(model):
        problems = _attribute_problems(model)
        traced = _fx_problems(model)
        if traced is not None:
            problems += traced
        ran = _runtime_problems(model, example_input)
        if ran is not None:
            problems += ran
        if traced is None and ran is None:
            raise UnsafeModelError(
                f"{type(model).__name__} could not be checked for attribution: it does not trace "
                "with torch.fx and could not run on an example input; pass example_input."
            )
    if problems:
        unique = list(dict.fromkeys(problems))
        raise UnsafeModelError(
            f"{type(model).__name__} cannot be explained exactly (Captum's ReLU hooks would give "
            f"silently wrong maps): {'; '.join(unique)}. Use one nn.ReLU() module per activation, "
            "nothing in place, and call each module once."
        )
    _verdicts[model] = True


def _describe(name: str, reason: str) -> str:
    return f"{name or 'the top-level forward'} {reason}"


def _attribute_problems(model: nn.Module) -> list[str]:
    return [
        _describe(name, "has inplace=True")
        for name, m in model.named_modules()
        if getattr(m, "inplace", False)
    ]


def _is_builtin(module: nn.Module) -> bool:
    """torch.nn's own layers call functional ops inside (nn.ReLU calls F.relu): not the user's code."""
    return type(module).__module__.startswith("torch.nn.")


def _call_problems(name: str, op: str, args: tuple, kwargs: dict) -> list[str]:
    """Problems of one function or method call `op` made in the forward of module `name`."""
    problems = []
    if op in RELU_NAMES:
        problems.append(_describe(name, f"calls a functional ReLU ({op}) instead of an nn.ReLU module"))
    positional_inplace = op == "relu" and len(args) > 1 and args[1] is True
    if kwargs.get("inplace") is True or positional_inplace:
        problems.append(_describe(name, f"calls {op} with inplace=True"))
    elif (op.endswith("_") and not op.startswith("_")) or op in INPLACE_DUNDERS:
        problems.append(_describe(name, f"modifies a tensor in place ({op})"))
    return problems


def _reuse_problems(counts: Counter, modules: dict[str, nn.Module]) -> list[str]:
    problems = []
    for name, n in counts.items():
        if n > 1:
            kind = "ReLU module" if isinstance(modules[name], nn.ReLU) else "module"
            problems.append(_describe(name, f"is one {kind} called {n} times in one forward"))
    return problems


def _fx_problems(model: nn.Module) -> list[str] | None:
    """Problems fx can see in the traced forward; None where the model does not trace."""
    try:
        graph = torch.fx.symbolic_trace(model).graph
    except Exception:  # noqa: BLE001 - any tracing failure means: use the runtime check alone
        return None
    problems, calls = [], Counter()
    modules = dict(model.named_modules())
    for node in graph.nodes:
        if node.op == "call_module":
            calls[node.target] += 1
        elif node.op in ("call_function", "call_method"):
            op = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", "")
            stack = list(node.meta.get("nn_module_stack", {}).values())
            owner = stack[-1][0] if stack else ""
            problems += _call_problems(owner, op, node.args, node.kwargs)
    return problems + _reuse_problems(calls, modules)


def _example_input(model: nn.Module) -> torch.Tensor | None:
    first_conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if first_conv is None:
        return None
    device = first_conv.weight.device
    return torch.zeros(1, first_conv.in_channels, INPUT_SIZE, INPUT_SIZE, device=device)


class _CallRecorder(TorchFunctionMode):
    """Sees every torch function and tensor method called while it is active (this thread only)."""

    def __init__(self, stack: list[tuple[str, nn.Module]]):
        super().__init__()
        self.stack, self.problems = stack, []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name, module = self.stack[-1] if self.stack else ("", None)
        if module is None or not _is_builtin(module):
            self.problems += _call_problems(name, getattr(func, "__name__", ""), args, kwargs)
        return func(*args, **kwargs)


def _runtime_problems(model: nn.Module, example_input: torch.Tensor | None) -> list[str] | None:
    """Problems seen in one real forward pass; None where the model could not run."""
    x = example_input if example_input is not None else _example_input(model)
    if x is None:
        return None
    stack: list[tuple[str, nn.Module]] = []
    calls: Counter = Counter()
    modules = dict(model.named_modules())

    def enter(name: str, module: nn.Module):
        def hook(_module, _args):
            stack.append((name, module))
            if not any(True for _ in module.children()):
                calls[name] += 1

        return hook

    def leave(_module, _args, _output):
        stack.pop()

    handles = []
    for name, module in modules.items():
        handles.append(module.register_forward_pre_hook(enter(name, module)))
        handles.append(module.register_forward_hook(leave))
    # Eval mode for the check, so BatchNorm statistics of a training model are not updated.
    modes = {m: m.training for m in model.modules()}
    recorder = _CallRecorder(stack)
    try:
        model.eval()
        with torch.no_grad(), recorder:
            model(x.detach())
    except Exception:  # noqa: BLE001 - a model that cannot run here is judged by tracing alone
        return None
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes.items():
            module.training = training
    return recorder.problems + _reuse_problems(calls, modules)
