"""Example data for the image cases (written once under data/, as `specdl example-data` does)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ensure() -> Path:
    data = ROOT / "data"
    if not (data / "checkpoints" / "resnet18.pth").exists():
        from specdl.build.examples import write_all

        write_all(data)
    return data


ensure()
