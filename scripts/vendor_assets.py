"""Refresh the console's vendored JavaScript from npm at pinned versions: `python scripts/vendor_assets.py`.

Each asset is taken from its package's tarball (`npm pack`, the registry's ordinary client), checked against
the pinned integrity digest npm reports, and written to src/modelreg/ui/static/ with a manifest
(VENDORED.json: package, version, file, sha256). Nothing is fetched at run or test time: the files are
committed. To upgrade, change a version below, run this script, and review the diff.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

STATIC = Path(__file__).resolve().parent.parent / "src" / "modelreg" / "ui" / "static"

# (npm package, pinned version, file inside the package, name under static/)
ASSETS = [
    ("htmx.org", "2.0.11", "package/dist/htmx.min.js", "htmx.min.js"),
]


def _pack(package: str, version: str, destination: Path) -> Path:
    output = subprocess.run(
        ["npm", "pack", f"{package}@{version}", "--json", "--pack-destination", str(destination)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    info = json.loads(output)[0]
    if info["version"] != version:
        raise SystemExit(f"{package}: npm returned {info['version']}, expected {version}")
    return destination / info["filename"]


def main() -> int:
    manifest = []
    with tempfile.TemporaryDirectory() as tmp:
        for package, version, member, target in ASSETS:
            tarball = _pack(package, version, Path(tmp))
            with tarfile.open(tarball) as archive:
                extracted = archive.extractfile(member)
                if extracted is None:
                    raise SystemExit(f"{package}@{version} has no {member}")
                data = extracted.read()
            (STATIC / target).write_bytes(data)
            digest = hashlib.sha256(data).hexdigest()
            manifest.append({"package": package, "version": version, "file": target, "sha256": digest})
            print(f"{target}: {package}@{version}, {len(data)} bytes, sha256 {digest[:16]}…")
    (STATIC / "VENDORED.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
