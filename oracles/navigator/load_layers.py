"""Loads ATT&CK Navigator layer files with mitreattack-python's navlayers (the oracle of detc's
layers) and prints, as one JSON document, what it made of each: whether it loaded, everything it
said while loading (navlayers reports a bad layer by printing, not by raising), and the layer as
navlayers serializes it back (to_dict), so a test can compare it with what detc wrote.

usage: python load_layers.py LAYER.json...
"""

import contextlib
import io
import json
import sys

from mitreattack.navlayers import Layer


def load(path):
    said = io.StringIO()
    layer = Layer()
    error = None
    with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
        try:
            layer.from_file(path)
            back = layer.to_dict()
        except Exception as e:  # any failure is a verdict on the file, reported as data
            error = f"{type(e).__name__}: {e}"
            back = None
    return {
        "file": path,
        "loaded": error is None and back is not None and not said.getvalue(),
        "said": said.getvalue(),
        "error": error,
        "layer": back,
    }


def main():
    print(json.dumps([load(p) for p in sys.argv[1:]], indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
