#!/usr/bin/python3
"""Writes DICOM instances whose text attributes hold arbitrary bytes, for the receiver's
property test (receiver_text_test.cpp), plus a manifest.json describing each file.

Usage: make_text_instances.py OUT_DIR [--count N] [--seed S]

Part "random": N small CT instances (32x32, 16-bit). Every text attribute the product
stores or logs (PatientName, PatientID, AccessionNumber, StudyDescription,
SeriesDescription, ProtocolName, InstitutionName, BodyPartExamined, ImageComments,
StationName, Manufacturer) and SpecificCharacterSet itself gets a seeded random byte
string: NUL, 0xFF, lone UTF-8 continuation bytes, truncated multi-byte sequences, ISO 2022
escape sequences, backslashes (value separators), '^' and '=' (PN groups), valid text in
other charsets, and some very long values (far past the VR's maximum length). Ten
instances share a study (study-level values come from its first instance); each instance
is its own series.

Part "pydicom": pydicom's charset_files (every DICOM character set, ISO 2022 escapes,
sequences), each written again with fresh UIDs (several share UIDs) and a SOP class when
it has none; their text elements keep their bytes.

Files are written "as read" so pydicom keeps every text byte untouched. Output is a pure
function of (count, seed). Needs Debian's python3-pydicom (run with /usr/bin/python3).
"""
import argparse
import glob
import json
import os
import random
import struct
import sys

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID, generate_uid

# Every dataset is written "as read": raw text elements go to the file byte for byte.
# Otherwise pydicom decodes them with the declared charset and re-encodes them on save,
# replacing what it cannot read, and a random SpecificCharacterSet makes it throw. This
# script sets every ambiguous VR itself (PixelData OW).
Dataset.is_original_encoding = property(lambda self: True)

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"

# keyword -> (tag, VR, "level"): study-level values are shared by the ten instances of a study.
TEXT = {
    "PatientName": (0x00100010, "PN", "study"),
    "PatientID": (0x00100020, "LO", "study"),
    "AccessionNumber": (0x00080050, "SH", "study"),
    "StudyDescription": (0x00081030, "LO", "study"),
    "InstitutionName": (0x00080080, "LO", "instance"),
    "StationName": (0x00081010, "SH", "instance"),
    "Manufacturer": (0x00080070, "LO", "instance"),
    "SeriesDescription": (0x0008103E, "LO", "instance"),
    "ProtocolName": (0x00181030, "LO", "instance"),
    "BodyPartExamined": (0x00180015, "CS", "instance"),
    "ImageComments": (0x00204000, "LT", "instance"),
}
SCS_TAG = 0x00080005

CHARSET_TERMS = ["ISO_IR 100", "ISO_IR 144", "ISO_IR 192", "GB18030", "GBK", "ISO_IR 13", "ISO 2022 IR 58",
                 "\\ISO 2022 IR 58", "ISO_IR 6\\ISO 2022 IR 87", "ISO 2022 IR 149", "WINDOWS-1251", "UTF-8",
                 "ISO_IR 999", "iso_ir 100", ""]

FRAGMENTS = [
    b"\x00", b"\xff", b"\xfe", b"\x80", b"\xbf", b"\xc3", b"\xe8\x83", b"\xf0\x9f\x98", b"\xc0\xaf",
    b"\xed\xa0\x80",  # UTF-8 encoded surrogate
    b"\x1b$)A", b"\x1b$B", b"\x1b(B", b"\x1b-L", b"\x1b$)C", b"\x1b", b"\\", b"\\\\", b"^", b"=", b"\r\n", b"\t",
    "胸部".encode("gb18030"), "胸".encode("utf-8"), "胸".encode("gbk").decode("latin-1").encode("utf-8"),
    "ГРУДЬ".encode("cp1251"), "ГРУДЬ".encode("iso8859_5"), "Müller".encode("latin-1"), "CHEST".encode(),
    "'; DROP TABLE instances; --".encode(), b"%s%n", b"{}",
]


def random_value(rng, max_len):
    """One adversarial byte string (never ends in a space: DICOM trims text padding)."""
    mode = rng.random()
    if mode < 0.08:
        out = b""
    elif mode < 0.15:  # very long
        out = bytes(rng.randrange(256) for _ in range(rng.randint(max_len, max_len * 4)))
    elif mode < 0.55:  # pieces
        out = b"".join(rng.choice(FRAGMENTS) if rng.random() < 0.6 else bytes([rng.randrange(256)])
                       for _ in range(rng.randint(1, 12)))
    else:  # uniform bytes
        out = bytes(rng.randrange(256) for _ in range(rng.randint(1, 48)))
    return out.rstrip(b" ")


def put_raw(ds, tag, vr, raw):
    if len(raw) % 2:
        raw += b" "  # even length; the space is text padding
    ds[tag] = RawDataElement(Tag(tag), vr, len(raw), raw, 0, False, True)


def pixels(seed):
    rng = random.Random(seed)
    return b"".join(struct.pack("<H", rng.getrandbits(10)) for _ in range(32 * 32))


def write(ds, path):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    ds.preamble = b"\0" * 128
    ds.is_little_endian = True
    ds.is_implicit_VR = False
    ds.save_as(path, write_like_original=False)


def random_instances(out_dir, count, seed):
    rng = random.Random(seed)
    entries = []
    study = None
    for n in range(count):
        if n % 10 == 0:
            study = {"uid": generate_uid(entropy_srcs=["text-prop", str(seed), "study", str(n)]),
                     "values": {kw: random_value(rng, 256) for kw, (_, _, lvl) in TEXT.items() if lvl == "study"}}
        sop = generate_uid(entropy_srcs=["text-prop", str(seed), "sop", str(n)])
        ds = Dataset()
        ds.SOPClassUID = CT_IMAGE
        ds.SOPInstanceUID = sop
        ds.StudyInstanceUID = study["uid"]
        ds.SeriesInstanceUID = generate_uid(entropy_srcs=["text-prop", str(seed), "series", str(n)])
        ds.Modality = "CT"
        ds.StudyDate = "20240612"
        ds.StudyTime = "101010"
        ds.SeriesNumber = n + 1
        ds.InstanceNumber = 1
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = ds.Columns = 32
        ds.BitsAllocated = 16
        ds.BitsStored = 12
        ds.HighBit = 11
        ds.PixelRepresentation = 0
        ds.PixelData = pixels(n)
        ds["PixelData"].VR = "OW"
        # Random declarations too, except NUL: pydicom itself cannot write one (codecs.lookup).
        scs = (rng.choice(CHARSET_TERMS).encode("ascii") if rng.random() < 0.8 else
               random_value(rng, 64).replace(b"\x00", b"?"))
        values = dict(study["values"])
        for kw, (_, _, lvl) in TEXT.items():
            if lvl == "instance":
                values[kw] = random_value(rng, 10240 if kw == "ImageComments" else 256)
        if scs:
            put_raw(ds, SCS_TAG, "CS", scs)
        for kw, raw in values.items():
            tag, vr, _ = TEXT[kw]
            put_raw(ds, tag, vr, raw)
        name = "random_%04d.dcm" % n
        write(ds, os.path.join(out_dir, name))
        attrs = {kw: raw.hex() for kw, raw in values.items()}
        attrs["SpecificCharacterSet"] = scs.hex()
        entries.append({"kind": "random", "file": name, "sop_instance_uid": sop, "study_instance_uid": study["uid"],
                        "series_instance_uid": ds.SeriesInstanceUID, "attributes_hex": attrs})
    return entries


def pydicom_instances(out_dir, seed):
    entries = []
    folder = os.path.join(os.path.dirname(pydicom.__file__), "data", "charset_files")
    for n, path in enumerate(sorted(glob.glob(os.path.join(folder, "*.dcm")))):
        ds = pydicom.dcmread(path)  # text stays raw until accessed; we never access it
        base = os.path.basename(path)
        sop = generate_uid(entropy_srcs=["text-prop", str(seed), "charset", base])
        ds.SOPInstanceUID = sop
        ds.StudyInstanceUID = generate_uid(entropy_srcs=["text-prop", str(seed), "charset-study", base])
        ds.SeriesInstanceUID = generate_uid(entropy_srcs=["text-prop", str(seed), "charset-series", base])
        if "SOPClassUID" not in ds:
            ds.SOPClassUID = SECONDARY_CAPTURE
        if "Modality" not in ds:
            ds.Modality = "OT"
        name = "charset_" + base
        write(ds, os.path.join(out_dir, name))
        entries.append({"kind": "pydicom", "file": name, "sop_instance_uid": sop,
                        "study_instance_uid": ds.StudyInstanceUID, "series_instance_uid": ds.SeriesInstanceUID,
                        "source": base})
    return entries


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out")
    p.add_argument("--count", type=int, default=150)
    p.add_argument("--seed", type=int, default=6)
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    entries = random_instances(args.out, args.count, args.seed) + pydicom_instances(args.out, args.seed)
    with open(os.path.join(args.out, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(entries, f, indent=1)
    print("wrote %d instances to %s" % (len(entries), args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
