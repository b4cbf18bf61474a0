"""The templates ship inside the wheel: codegen works from a real installed wheel,
outside the source tree."""

from __future__ import annotations

import subprocess
import sys
import zipfile

from .conftest import ROOT


def test_codegen_from_installed_wheel(tmp_path):
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                        "-w", str(tmp_path / "dist"), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    wheel = next((tmp_path / "dist").glob("specdl-*.whl"))
    assert "specdl/templates/train.py.j2" in zipfile.ZipFile(wheel).namelist()
    site = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "--target",
                        str(site), str(wheel)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    spec = tmp_path / "s.yaml"
    spec.write_text((ROOT / "specs" / "iris_mlp.yaml").read_text())
    # -I: isolated (no cwd, no user site, no PYTHONPATH): only the wheel's copy is importable
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import specdl, specdl.script.render as c; "
            "assert specdl.__file__.startswith(sys.argv[1]), specdl.__file__; "
            "assert str(c.templates_dir()).startswith(sys.argv[1]); "
            "print(specdl.codegen(sys.argv[2]))")
    r = subprocess.run([sys.executable, "-I", "-c", code, str(site), str(spec)], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "class Model(nn.Module):" in r.stdout
