#!/usr/bin/python3
"""Prints "<keyword> <hex of the raw value bytes>" for each requested top-level text
attribute present in FILE, as pydicom reads it (independent cross-check of our reader).
Usage: dump_raw.py FILE KEYWORD..."""
import sys

import pydicom
from pydicom.datadict import tag_for_keyword


def main():
    ds = pydicom.dcmread(sys.argv[1], force=True, stop_before_pixels=True)
    for keyword in sys.argv[2:]:
        tag = tag_for_keyword(keyword)
        if tag is None or tag not in ds:
            continue
        raw = ds.get_item(tag)
        value = raw.value if isinstance(raw.value, (bytes, bytearray)) else None
        if value is None:
            continue
        print(keyword, value.hex() if value else "-")


if __name__ == "__main__":
    main()
