"""Training speed on this CPU: fp32 against bf16 autocast, channels_last, in the same run; and whether
accuracy holds under bf16 (the same short FanNet training on FER2013 in both precisions).

    .venv/bin/python bench/bench_training.py [--epochs 3] [--root ../shared/data/fer2013] [--threads 2]

Prints training images/s per architecture and precision with the bf16 / fp32 ratio, then the
held-out accuracy of FanNet after --epochs epochs on FER2013's train split (10% held out,
never the test split) in fp32 and in bf16. `fit` keeps bf16 on only where the CPU has native
bf16 (`cpu_has_bf16`).
"""

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from core.models.architectures import BreuerNet, FanNet  # noqa: E402
from core.models.recipes import holdout_split, load_faces  # noqa: E402
from core.models.training import TrainConfig, cpu_has_bf16, fit  # noqa: E402


def images_per_second(model: nn.Module, bf16: bool, steps: int = 8, batch: int = 128) -> float:
    model.train().to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    x = torch.randn(batch, 1, 48, 48).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 7, (batch,))
    for step in range(steps + 2):
        if step == 2:
            started = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = nn.functional.cross_entropy(model(x).float(), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return steps * batch / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "data" / "fer2013")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"CPU with native bf16: {cpu_has_bf16()}; torch threads: {args.threads}")
    for name, build in (("fan2019", lambda: FanNet(7, batch_norm=True)),
                        ("breuer2017 w0.5", lambda: BreuerNet(7, batch_norm=True, width=0.5)),
                        ("breuer2017 w0.75", lambda: BreuerNet(7, batch_norm=True, width=0.75))):  # fmt: skip
        torch.manual_seed(0)
        fp32 = images_per_second(build(), bf16=False)
        torch.manual_seed(0)
        bf16 = images_per_second(build(), bf16=True)
        print(f"{name:18s} fp32 {fp32:7.0f} img/s   bf16 {bf16:7.0f} img/s   ratio {bf16 / fp32:.2f}")
    if not args.root.is_dir():
        print(f"accuracy check skipped: {args.root} not found")
        return
    crops, samples = load_faces("fer2013", args.root, "train")
    classes = sorted({s.label for s in samples})
    y = np.array([classes.index(s.label) for s in samples])
    held = holdout_split(y, 0.1, 0)
    for bf16 in (False, True):
        torch.manual_seed(0)
        model = FanNet(len(classes), batch_norm=True)
        config = TrainConfig(epochs=args.epochs, lr=0.05, optimizer="sgd", balance=False, bf16=bf16)
        result = fit(model, crops[~held], y[~held], crops[held], y[held], config)
        best = max(h["val_accuracy"] for h in result["history"])
        speed = np.median([h["images_per_second"] for h in result["history"]])
        print(f"FanNet {args.epochs} epochs {'bf16' if bf16 else 'fp32'}: held-out accuracy {100 * best:.1f}%, "
              f"{speed:.0f} img/s in the real loop (augmentation included)")  # fmt: skip


if __name__ == "__main__":
    main()
