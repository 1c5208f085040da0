#!/usr/bin/python3
"""Compare what the AI node received with what the PACS was given.

  compare_ai_node.py AI_DIR DAY_DIR

AI_DIR is storescp's output folder (one file per C-STORE it kept, any depth); DAY_DIR is
gen_day.py's output (the files uploaded to the PACS). Every received file must parse as
DICOM and equal the PACS's file with the same SOP Instance UID element by element (the
dataset, pixel data included; the file meta header is each writer's own). A half-written
file fails to parse or misses elements, and is named.

Prints one JSON object: {"files", "parsed", "matched", "problems": [first 20 reasons]};
exit 0 when every file parsed and matched, 1 otherwise, 2 on bad usage.
"""
import json
import os
import sys

try:
    import pydicom
except ImportError:  # Debian: python3-pydicom
    sys.stderr.write("compare_ai_node.py needs pydicom (python3-pydicom); run it with /usr/bin/python3\n")
    sys.exit(2)


def dicom_files(root):
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]  # the receiver's .incoming, .conflicts
        for name in sorted(names):
            if name.endswith(".log") or name.startswith("."):
                continue
            yield os.path.join(folder, name)


def index_pacs(day_dir):
    by_sop = {}
    for path in dicom_files(day_dir):
        if path.endswith(".json"):
            continue
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:  # the generator writes only DICOM; skip anything else
            continue
        by_sop[str(ds.SOPInstanceUID)] = path
    return by_sop


def differences(received, original):
    """Tags whose value differs (or exists on one side only), as text."""
    out = []
    tags = set(received.keys()) | set(original.keys())
    for tag in sorted(tags):
        if tag not in received:
            out.append("missing %s" % tag)
        elif tag not in original:
            out.append("extra %s" % tag)
        elif received[tag].value != original[tag].value:
            out.append("differs %s" % tag)
    return out


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    ai_dir, day_dir = argv[1], argv[2]
    pacs = index_pacs(day_dir)
    files = parsed = matched = 0
    problems = []
    for path in dicom_files(ai_dir):
        files += 1
        try:
            ds = pydicom.dcmread(path)
            ds.PixelData if "PixelData" in ds else None  # force the whole file to be read
            sop = str(ds.SOPInstanceUID)
        except Exception as e:
            problems.append("%s: does not parse: %s" % (path, e))
            continue
        parsed += 1
        if sop not in pacs:
            problems.append("%s: SOP %s is not one the PACS was given" % (path, sop))
            continue
        diff = differences(ds, pydicom.dcmread(pacs[sop]))
        if diff:
            problems.append("%s: %s" % (path, ", ".join(diff[:5])))
            continue
        matched += 1
    print(json.dumps({"files": files, "parsed": parsed, "matched": matched, "problems": problems[:20]}))
    return 0 if files == parsed == matched else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
