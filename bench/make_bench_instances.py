#!/usr/bin/python3
"""Writes N DICOM CT instances for bench/receive_compare.sh, split over P directories
(one per association), one study, one series per directory, fresh UIDs.

Usage: make_bench_instances.py OUT_DIR --count N --parts P --size ct|small
  ct:    512x512 16-bit slices (0.5 MB of pixel data, a real chest CT slice's size)
  small: 64x64 16-bit images (8 KB)
Layout: OUT_DIR/p<k>/<n>.dcm. Runs with Debian's python3-pydicom; no numpy.
"""
import argparse
import io
import os
import uuid

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out_dir")
    p.add_argument("--count", type=int, default=300)
    p.add_argument("--parts", type=int, default=1)
    p.add_argument("--size", choices=["ct", "small"], default="ct")
    a = p.parse_args()
    side = 512 if a.size == "ct" else 64
    pixels = bytes((i * 7) & 0xFF for i in range(side * side * 2))
    study = generate_uid()
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = CT_IMAGE
    ds.StudyInstanceUID = study
    ds.PatientName = "Bench^Patient"
    ds.PatientID = "BENCH1"
    ds.AccessionNumber = "ACCBENCH"
    ds.StudyDate = "20261201"
    ds.Modality = "CT"
    ds.BodyPartExamined = "CHEST"
    ds.SeriesDescription = "Bench Chest 1.0"
    ds.Rows = side
    ds.Columns = side
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.PixelData = pixels
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CT_IMAGE
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.is_little_endian = True
    ds.is_implicit_VR = False
    # pydicom writes one template per series; each instance is that template with its SOP
    # instance UID patched in (a 64-character placeholder, same length: offsets stay valid),
    # so 100,000 files take seconds, not minutes.
    placeholder = "2.25." + "9" * 59
    for part in range(a.parts):
        d = os.path.join(a.out_dir, "p%d" % part)
        os.makedirs(d, exist_ok=True)
        ds.SeriesInstanceUID = generate_uid()
        ds.SeriesNumber = part + 1
        ds.SOPInstanceUID = placeholder
        meta.MediaStorageSOPInstanceUID = placeholder
        buf = io.BytesIO()
        ds.save_as(buf, write_like_original=False)
        template = buf.getvalue()
        head, tail = template.split(placeholder.encode(), 1)
        mid, tail = tail.split(placeholder.encode(), 1)
        n = a.count // a.parts + (1 if part < a.count % a.parts else 0)
        for i in range(n):
            sop = ("2.25.%d" % uuid.uuid4().int).ljust(64, "0")[:64].encode()
            with open(os.path.join(d, "%06d.dcm" % i), "wb") as f:
                f.write(head + sop + mid + sop + tail)

if __name__ == "__main__":
    main()
