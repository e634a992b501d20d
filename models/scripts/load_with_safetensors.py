"""Load ledgerloop-models artifacts outside Rust, with the `safetensors` package and numpy.

Shows (and checks) the tensor names and formulas documented in models/README.md:

    python3 -m pip install safetensors numpy
    python3 models/scripts/load_with_safetensors.py ARTIFACT_DIR [ARTIFACT_DIR ...]

Each ARTIFACT_DIR holds `model.safetensors` and `manifest.json`. The script verifies the
SHA-256 against the manifest, prints the tensors, and for a `tabular` or `tabular_int8`
artifact scores one all-zero row with numpy. PyTorch users can call
`safetensors.torch.load_file` instead and copy `layers.{i}.weight` / `layers.{i}.bias` into
the i-th `torch.nn.Linear` (same `[out, in]` layout). Not used by the Rust build or tests.
"""

import hashlib
import json
import pathlib
import sys

import numpy as np
from safetensors.numpy import load_file


def mlp_forward(t, x, n_layers, dequantize):
    """ReLU MLP over standardised input, softmax at the end (the Rust forward pass)."""
    h = (x - t["input.mean"]) / t["input.std"]
    for i in range(n_layers):
        w = t[f"layers.{i}.weight"].astype(np.float32)
        if dequantize:
            w = w * t[f"layers.{i}.scale"].astype(np.float32)[:, None]
        h = h @ w.T + t[f"layers.{i}.bias"].astype(np.float32)
        if i + 1 < n_layers:
            h = np.maximum(h, 0.0)
    e = np.exp(h - h.max())
    return e / e.sum()


def main(dirs):
    for d in map(pathlib.Path, dirs):
        manifest = json.loads((d / "manifest.json").read_text())
        raw = (d / "model.safetensors").read_bytes()
        if hashlib.sha256(raw).hexdigest() != manifest["weights_sha256"]:
            sys.exit(f"{d}: SHA-256 differs from the manifest")
        t = load_file(str(d / "model.safetensors"))
        print(d, manifest["family"], {k: (str(v.dtype), v.shape) for k, v in sorted(t.items())})
        family = manifest["family"]
        if family in ("tabular", "tabular_int8"):
            n_layers = len([k for k in t if k.endswith(".weight")])
            x = np.zeros(manifest["config"]["n_features"], dtype=np.float32)
            print("  p(all-zero row) =", mlp_forward(t, x, n_layers, family == "tabular_int8"))


if __name__ == "__main__":
    main(sys.argv[1:])
