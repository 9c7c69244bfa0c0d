"""Whether torch can run an operation on a CUDA device, for the GPU scripts (gpu_figures.sh,
ablation_gpu.sh), which refuse at once without one.

Exit status 0 (and the device on stdout) where a first operation on ``cuda`` succeeds; 1 (and the
reason) where torch has no CUDA device or that operation fails; 2 where torch does not import.
"""

from __future__ import annotations

import sys


def main() -> int:
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - any import failure means the same here
        print(f"torch does not import: {type(e).__name__}: {e}".splitlines()[0])
        return 2
    where = f"torch {torch.__version__}, CUDA build {torch.version.cuda}"
    if not torch.cuda.is_available():
        print(f"{where}: torch.cuda.is_available() is False")
        return 1
    try:
        torch.ones(1, device="cuda").add_(1).item()
    except Exception as e:  # noqa: BLE001 - a broken driver fails in many ways
        print(f"{where}: a first operation on cuda failed: {type(e).__name__}: {e}".splitlines()[0])
        return 1
    print(f"{where}: {torch.cuda.get_device_name(0)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
