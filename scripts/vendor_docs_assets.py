"""Vendor the API docs page's assets (Redoc's standalone bundle) from npm at a pinned version.

    python scripts/vendor_docs_assets.py            # refresh the pinned version
    python scripts/vendor_docs_assets.py 2.5.3      # move to another version (then update REDOC_VERSION)

Uses the ordinary npm client (`npm pack`, which checks the registry's integrity hash) and writes
src/modelreg/static/docs/: redoc.standalone.js, its LICENSE, and VENDORED.txt (package, version, sha256).
modelreg serves these files itself (GET /docs/assets/...): no CDN, no node at run time. The bundle's one
external URL (the Redocly logo in the sidebar footer) is replaced with an inline empty image, so the page
makes no request outside modelreg.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REDOC_VERSION = "2.5.2"
TARGET = Path(__file__).resolve().parent.parent / "src" / "modelreg" / "static" / "docs"
EXTERNAL_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
INLINE_EMPTY_IMAGE = b"data:image/gif;base64,R0lGODlhAQABAAAAACw="


def vendor(version: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", f"redoc@{version}", "--pack-destination", tmp, "--silent"], check=True, cwd=tmp)
        (tarball,) = Path(tmp).glob("redoc-*.tgz")
        with tarfile.open(tarball) as archive:
            bundle = archive.extractfile("package/bundles/redoc.standalone.js")
            license_file = archive.extractfile("package/LICENSE")
            assert bundle is not None and license_file is not None
            script = bundle.read().replace(EXTERNAL_LOGO, INLINE_EMPTY_IMAGE)
            license_text = license_file.read()
    if b"https://cdn." in script:
        raise SystemExit("the bundle references a CDN: check it before vendoring")
    TARGET.mkdir(parents=True, exist_ok=True)
    (TARGET / "redoc.standalone.js").write_bytes(script)
    (TARGET / "LICENSE.redoc").write_bytes(license_text)
    digest = hashlib.sha256(script).hexdigest()
    (TARGET / "VENDORED.txt").write_text(
        f"redoc {version} (npm), bundles/redoc.standalone.js, vendored by scripts/vendor_docs_assets.py\n"
        f"sha256 {digest}  redoc.standalone.js (after replacing the Redocly logo URL with an inline image)\n"
    )
    print(f"vendored redoc {version}: {len(script)} bytes, sha256 {digest}")


if __name__ == "__main__":
    vendor(sys.argv[1] if len(sys.argv) > 1 else REDOC_VERSION)
