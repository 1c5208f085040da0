#!/usr/bin/python3
"""Writes one study (one series of N instances, copies of pydicom's CT_small.dcm with fresh
UIDs) carrying the given StudyDate/StudyTime and Modality, for the finder's local-time test.

Usage: make_dated_study.py OUT_DIR DATE TIME MODALITY [--instances N]
Prints the StudyInstanceUID.
"""
import argparse
import os
import warnings

import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid


def main():
    warnings.simplefilter("ignore")
    p = argparse.ArgumentParser()
    p.add_argument("out_dir")
    p.add_argument("date")
    p.add_argument("time")
    p.add_argument("modality")
    p.add_argument("--instances", type=int, default=1)
    a = p.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)
    template = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    study, series = generate_uid(), generate_uid()
    for i in range(a.instances):
        ds = template.copy()
        sop = generate_uid()
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = series
        ds.SOPInstanceUID = sop
        ds.file_meta.MediaStorageSOPInstanceUID = sop
        ds.InstanceNumber = i + 1
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = a.date
        ds.StudyTime = ds.SeriesTime = ds.ContentTime = a.time
        ds.Modality = a.modality
        ds.AccessionNumber = "ACC" + a.date + a.time
        ds.save_as(os.path.join(a.out_dir, "%s-%03d.dcm" % (sop, i)), write_like_original=False)
    print(study)


if __name__ == "__main__":
    main()
