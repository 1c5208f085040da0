#!/usr/bin/python3
"""Write a late series for a dispatched CT study: a copy of one of its series under a new
SeriesInstanceUID and SeriesNumber, with a different slice thickness (and as many slices as
that thickness needs over the same range), for the late-series re-dispatch test.

Usage: make_late_series.py SRC_SERIES_DIR OUT_DIR THICKNESS SERIES_NUMBER
"""
import glob
import os
import sys

from pydicom import dcmread
from pydicom.uid import generate_uid


def main():
    src, out, thickness, number = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    files = sorted(glob.glob(os.path.join(src, "*.dcm")))
    if not files:
        sys.exit("no .dcm files in " + src)
    first = dcmread(files[0])
    old = float(first.SliceThickness)
    count = max(1, int(round(len(files) * old / thickness)))
    series_uid = generate_uid()
    os.makedirs(out, exist_ok=True)
    z0 = float(first.ImagePositionPatient[2])
    for i in range(count):
        ds = dcmread(files[min(len(files) - 1, int(i * thickness / old))])
        ds.SeriesInstanceUID = series_uid
        ds.SeriesNumber = number
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = i + 1
        ds.SliceThickness = f"{thickness:g}"
        z = z0 - i * thickness
        ds.ImagePositionPatient = [ds.ImagePositionPatient[0], ds.ImagePositionPatient[1], f"{z:.3f}"]
        if "SliceLocation" in ds:
            ds.SliceLocation = f"{z:.3f}"
        ds.SeriesDescription = f"CHEST {thickness:g} late"
        ds.save_as(os.path.join(out, f"{i + 1:04d}.dcm"), write_like_original=False)
    print(series_uid)


if __name__ == "__main__":
    main()
