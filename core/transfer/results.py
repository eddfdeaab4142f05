"""Transfer results with their provenance: in the results store, and committed as JSON.

Every result carries `provenance`: model name and sha256, dataset format, split and
fingerprint, seeds, parameters, the command and the time (UTC). The store keys it by
experiment, model sha256, data fingerprint, split, seeds and parameters (kind "transfer").
Committed results (weights/results/transfer/*.json) are read for a model only when their
sha256 matches the model's, so a retrained model never shows an old model's numbers.
"""

import json
import time
from collections.abc import Callable
from pathlib import Path

from torch import nn

from core.datasets import Sample, fingerprint
from core.models.zoo import model_identity, weights_dir
from core.paths import write_atomically
from core.store import ResultStore

KIND = "transfer"
EXPERIMENTS = ("cross_dataset", "fine_tuning", "au_probes", "shift", "micro_probe")


def results_dir() -> Path:
    """Where committed transfer results live: weights/results/transfer beside the manifest."""
    return weights_dir() / "results" / "transfer"


def data_identity(samples: list[Sample], split: str | None) -> dict:
    return {
        "format": samples[0].dataset if samples else None,
        "split": split,
        "fingerprint": fingerprint(samples),
    }


def result_key(experiment: str, model: nn.Module, data: list[dict], seeds: list[int], params: dict) -> dict:
    return {"experiment": experiment, "model": model_identity(model)[1],
            "data": [(d["format"], d["split"], d["fingerprint"]) for d in data], "seeds": list(seeds),
            "params": params}  # fmt: skip


def run_stored(
    experiment: str,
    model: nn.Module,
    data: list[dict],
    compute: Callable[[], dict],
    seeds: list[int] = (0,),
    params: dict | None = None,
    store: ResultStore | None = None,
    command: str = "",
) -> dict:
    """The stored result for this experiment, model, data, seeds and parameters, else computed and stored.

    `data` holds one `data_identity` per dataset used (the target first). The result comes
    back with `provenance` and `from_store`.
    """
    params = params or {}
    key = result_key(experiment, model, data, seeds, params)
    if store is not None and (found := store.get_result(KIND, key)) is not None:
        return {**found, "from_store": True}
    result = compute()
    name, sha = model_identity(model)
    result["provenance"] = {
        "experiment": experiment, "model": name, "sha256": sha, **data[0], "data": data, "seeds": list(seeds),
        "params": params, "command": command, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }  # fmt: skip
    if store is not None:
        store.put_result(KIND, key, result)
    return {**result, "from_store": False}


def _file_name(result: dict) -> str:
    where = result["provenance"]
    target = "-".join(str(part) for part in (where["format"], where["split"]) if part)
    return f"{where['experiment']}--{where['model']}--{target}.json"


def save_committed(result: dict, directory: Path | None = None) -> Path:
    """Write a result as JSON under weights/results/transfer (one file per experiment, model, target)."""
    directory = directory or results_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / _file_name(result)
    payload = {k: v for k, v in result.items() if k != "from_store"}
    write_atomically(path, json.dumps(payload, indent=1) + "\n")
    return path


def committed_results(experiment: str, sha256: str, directory: Path | None = None) -> list[dict]:
    """Committed results of one experiment for the model with this checksum."""
    directory = directory or results_dir()
    found = []
    for path in sorted(directory.glob(f"{experiment}--*.json")) if directory.is_dir() else []:
        try:
            result = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # a damaged file is left out, not fatal to the page
        if result.get("provenance", {}).get("sha256") == sha256:
            found.append(result)
    return found


def stored_results(store: ResultStore, experiment: str, sha256: str) -> list[dict]:
    """Results of one experiment for this model in the results store, newest first."""
    found = []
    for entry in store.list_results(KIND):
        key = entry["key"]
        if key.get("experiment") == experiment and key.get("model") == sha256:
            result = store.get_result(KIND, key)
            if result is not None:
                found.append(result)
    return found


def known_results(experiment: str, sha256: str, store: ResultStore | None = None) -> list[dict]:
    """Stored results first, then committed ones on data not stored; one per dataset and parameters.

    Each comes back with `origin`: "results store" or "committed".
    """
    stored = stored_results(store, experiment, sha256) if store else []
    candidates = [(r, "results store") for r in stored] + [
        (r, "committed") for r in committed_results(experiment, sha256)
    ]
    seen, found = set(), []
    for result, origin in candidates:
        where = result["provenance"]
        ident = (
            json.dumps(where.get("data"), sort_keys=True),
            json.dumps(where.get("params"), sort_keys=True),
        )
        if ident not in seen:
            seen.add(ident)
            found.append({**result, "origin": origin})
    return found
