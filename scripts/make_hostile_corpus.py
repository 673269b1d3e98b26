#!/usr/bin/env python3
"""Writes a corpus of hostile documents into a folder, for the adversarial tests and the fuzz seeds.

Every file is something an uploader can send and a naive parser chokes on: a PDF form that draws
itself (endless recursion: a stack overflow aborts the whole process), FlateDecode bombs (plain
and nested filters), a DOCX whose document.xml inflates to 1 GiB, 10,000-deep HTML, a PDF image
declaring 4 gigapixels, invalid UTF-8, an empty file and a 1 GiB sparse file (`--huge`).

Usage: make_hostile_corpus.py DIR [--huge]
Prints one line per file: NAME<TAB>what it is.
"""

import functools
import io
import sys
import zipfile
import zlib
from pathlib import Path


def pdf(objects, root=1):
    """A PDF with a correct xref table from a list of object bodies (bytes), numbered from 1."""
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, root, xref))
    return out.getvalue()


def stream(dictionary, data):
    return b"<< " + dictionary + b" /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


def page_with(resources, content_object):
    return [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources " + resources
        + b" /Contents %d 0 R >>" % content_object,
    ]


def self_drawing_form():
    """A form XObject whose content draws the form itself: parsers that follow `Do` recurse forever."""
    font = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
    objects = page_with(b"<< /XObject << /X0 5 0 R >> /Font << /F1 6 0 R >> >>", 4)
    objects.append(stream(b"", b"BT /F1 12 Tf 72 720 Td (hello) Tj ET /X0 Do"))
    objects.append(stream(
        b"/Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources << /XObject << /X0 5 0 R >> /Font << /F1 6 0 R >> >>",
        b"BT /F1 12 Tf (again) Tj ET /X0 Do",
    ))
    objects.append(font)
    return pdf(objects)


def mutual_forms():
    """Two forms that draw each other."""
    objects = page_with(b"<< /XObject << /A 5 0 R >> >>", 4)
    objects.append(stream(b"", b"/A Do"))
    objects.append(stream(b"/Type /XObject /Subtype /Form /BBox [0 0 1 1] /Resources << /XObject << /B 6 0 R >> >>", b"/B Do"))
    objects.append(stream(b"/Type /XObject /Subtype /Form /BBox [0 0 1 1] /Resources << /XObject << /A 5 0 R >> >>", b"/A Do"))
    return pdf(objects)


@functools.lru_cache(maxsize=1)
def deflated_gigabyte():
    """1 GiB of text-drawing operators, deflated (computed once for both bombs)."""
    unit = b"BT /F1 12 Tf 72 720 Td (boom boom boom boom boom boom) Tj ET\n"
    size = 1 << 30
    compressor = zlib.compressobj(9)
    chunks = []
    block = unit * ((1 << 20) // len(unit))
    written = 0
    while written < size:
        chunks.append(compressor.compress(block))
        written += len(block)
    chunks.append(compressor.flush())
    return b"".join(chunks)


def flate_bomb(nested):
    """A page whose content stream inflates to 1 GiB (twice deflated when nested)."""
    data = deflated_gigabyte()
    filters = b"/Filter /FlateDecode"
    if nested:
        data = zlib.compress(data, 9)
        filters = b"/Filter [/FlateDecode /FlateDecode]"
    font = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
    objects = page_with(b"<< /Font << /F1 5 0 R >> >>", 4)
    objects.append(stream(filters, data))
    objects.append(font)
    return pdf(objects)


def huge_image():
    """An image XObject that declares 65,536 x 65,536 pixels of RGB behind a tiny deflated stream."""
    data = zlib.compress(b"\x00" * (1 << 20), 9)
    objects = page_with(b"<< /XObject << /Im0 5 0 R >> >>", 4)
    objects.append(stream(b"", b"q 612 0 0 792 0 0 cm /Im0 Do Q"))
    objects.append(stream(
        b"/Type /XObject /Subtype /Image /Width 65536 /Height 65536 /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /FlateDecode",
        data,
    ))
    return pdf(objects)


def docx_bomb():
    """A DOCX whose word/document.xml inflates to 1 GiB."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>')
        with z.open("word/document.xml", "w", force_zip64=True) as part:
            part.write(b'<?xml version="1.0"?><w:document xmlns:w="x"><w:body><w:p><w:r><w:t>')
            block = b"A" * (1 << 20)
            for _ in range(1024):
                part.write(block)
            part.write(b"</w:t></w:r></w:p></w:body></w:document>")
    return out.getvalue()


def deep_html(depth=10_000):
    return b"<!DOCTYPE html><html><body>" + b"<div>" * depth + b"deep text" + b"</div>" * depth + b"</body></html>"


CORPUS = [
    ("self-drawing-form.pdf", "a PDF form XObject that draws itself", self_drawing_form),
    ("mutual-forms.pdf", "two PDF forms that draw each other", mutual_forms),
    ("flate-bomb.pdf", "a content stream inflating to 1 GiB", lambda: flate_bomb(False)),
    ("nested-flate-bomb.pdf", "a twice-deflated content stream inflating to 1 GiB", lambda: flate_bomb(True)),
    ("huge-image.pdf", "an image declaring 65536 x 65536 RGB pixels", huge_image),
    ("zip-bomb.docx", "a DOCX whose document.xml inflates to 1 GiB", docx_bomb),
    ("deep.html", "10,000 nested <div> elements", deep_html),
    ("invalid-utf8.txt", "text that is not UTF-8", lambda: b"caf\xe9 \xff\xfe na\xefve \xc3\x28"),
    ("empty.txt", "0 bytes", lambda: b""),
]


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    folder = Path(sys.argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    for name, what, make in CORPUS:
        (folder / name).write_bytes(make())
        print(f"{name}\t{what}")
    if "--huge" in sys.argv[2:]:
        with open(folder / "huge-sparse.txt", "wb") as f:
            f.truncate(1 << 30)
        print("huge-sparse.txt\ta 1 GiB sparse file")


if __name__ == "__main__":
    main()
