"""Unpack a golang.org/toolchain module zip (from the Go module proxy) into a Go root.

Usage: python3 unzip_toolchain.py ZIP DEST

The zip's entries sit under `golang.org/toolchain@<version>/`; DEST gets what is below that,
with the executable bits the zip records (Python's zipfile does not restore them itself).
The tree is unpacked beside DEST and renamed into place, so a half-unpacked toolchain is never
mistaken for a whole one.
"""

import shutil
import sys
import tempfile
import zipfile
from pathlib import Path


def unpack(archive: Path, destination: Path) -> None:
    staging = Path(tempfile.mkdtemp(prefix=".go-", dir=destination.parent))
    try:
        with zipfile.ZipFile(archive) as zipped:
            for entry in zipped.infolist():
                parts = entry.filename.split("/")
                versioned = next((i for i, part in enumerate(parts) if "@" in part), None)
                relative = "/".join(parts[versioned + 1 :]) if versioned is not None else ""
                if not relative or entry.is_dir():
                    continue
                target = staging / relative
                if staging.resolve() not in target.resolve().parents:
                    raise ValueError(f"unsafe path in the archive: {entry.filename}")
                target.parent.mkdir(parents=True, exist_ok=True)
                with zipped.open(entry) as source, target.open("wb") as sink:
                    shutil.copyfileobj(source, sink)
                mode = (entry.external_attr >> 16) & 0o777
                if mode:
                    target.chmod(mode)
        staging.chmod(0o755)  # mkdtemp made it private
        staging.rename(destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: unzip_toolchain.py ZIP DEST")
    unpack(Path(sys.argv[1]), Path(sys.argv[2]))
