#!/usr/bin/python3
"""Rewrites every DICOM file of a generated day (tests/fixtures/gen_day.py) in place with
a MATRIX x MATRIX pixel matrix, so byte figures look like real images (512 x 512 x 16 bit
is 512 KiB per CT slice). Pixel values are a gradient; attributes are kept.

Usage: upscale_day.py DAY_DIR MATRIX
"""
import sys
from pathlib import Path

import pydicom


def main() -> int:
    day, matrix = Path(sys.argv[1]), int(sys.argv[2])
    n = 0
    for path in sorted(day.rglob("*.dcm")):
        ds = pydicom.dcmread(path)
        if "PixelData" not in ds:
            continue
        spp = int(getattr(ds, "SamplesPerPixel", 1))
        bytes_per = int(ds.BitsAllocated) // 8
        row = bytes((x * 7) & 0xFF for x in range(matrix * spp * bytes_per))
        ds.Rows, ds.Columns = matrix, matrix
        ds.PixelData = row * matrix
        ds.save_as(path, write_like_original=True)
        n += 1
    print(f"upscaled {n} files to {matrix}x{matrix}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
