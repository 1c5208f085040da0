#!/usr/bin/python3
"""Writes copies of a pydicom test file with fresh UIDs, for the DICOM integration tests.

Usage: make_instances.py OUT_DIR [--source FILE] [--studies N] [--series N]
                         [--instances N] [--drop KEYWORD ...] [--prefix P]
                         [--set KEYWORD=HEXBYTES ...]
Each study gets a new StudyInstanceUID, each series a new SeriesInstanceUID, each
instance a new SOPInstanceUID (pixel data untouched). --set stores exact bytes in a text
attribute under a Latin-1 declaration (how mis-declared GB18030 text arrives in the field). Prints one line per file:
"<path> <study> <series> <sop>".
"""
import argparse
import os
import warnings

import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid


def main():
    warnings.simplefilter("ignore")  # pydicom warns about the invalid values we write on purpose
    p = argparse.ArgumentParser()
    p.add_argument("out_dir")
    p.add_argument("--source", default=get_testdata_file("CT_small.dcm"))
    p.add_argument("--studies", type=int, default=1)
    p.add_argument("--series", type=int, default=1)
    p.add_argument("--instances", type=int, default=1)
    p.add_argument("--drop", nargs="*", default=[])
    p.add_argument("--prefix", default="inst")
    p.add_argument("--set", nargs="*", default=[])
    a = p.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)
    template = pydicom.dcmread(a.source)
    n = 0
    for _ in range(a.studies):
        study = generate_uid()
        for s in range(a.series):
            series = generate_uid()
            for i in range(a.instances):
                ds = template.copy()
                sop = generate_uid()
                ds.StudyInstanceUID = study
                ds.SeriesInstanceUID = series
                ds.SOPInstanceUID = sop
                ds.SeriesNumber = s + 1
                ds.InstanceNumber = i + 1
                ds.file_meta.MediaStorageSOPInstanceUID = sop
                for item in a.set:
                    keyword, hexbytes = item.split("=", 1)
                    ds.SpecificCharacterSet = "ISO_IR 100"
                    setattr(ds, keyword, bytes.fromhex(hexbytes).decode("latin-1"))
                for keyword in a.drop:
                    if keyword in ds:
                        delattr(ds, keyword)
                path = os.path.join(a.out_dir, "%s-%05d.dcm" % (a.prefix, n))
                ds.save_as(path, write_like_original=False)
                print(path, study, series, sop)
                n += 1


if __name__ == "__main__":
    main()
