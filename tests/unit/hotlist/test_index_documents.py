"""Index documents and bulk commands, without Redis: what an import encodes is what matching decodes."""

from __future__ import annotations

import msgspec
import pytest

from server.hotlist.index import BULK_CHUNK, IndexedEntry, encode_fields, entries_key, pack_documents, pack_removes
from server.hotlist.matching import ocr_key

FIELDS = [
    (1, "ABC1234", "MO", "stolen_vehicle", "NCIC", "V000000001", 4, None, None, None, None, None, None, None),
    (987654321, "Q1", None, "amber_alert", "AMBER", "A-1", 1, 1.8e9, 2019, "TOYT", "CAM", "BLK/WHI", "4D",
     'DOE, "JANE"\nSECOND LINE'),
]


@pytest.mark.parametrize("fields", FIELDS)
def test_fields_encode_as_the_struct_does(fields: tuple) -> None:
    """A document encoded from fields in order is byte for byte the struct's, and decodes back to it."""
    entry = IndexedEntry(*fields)
    assert encode_fields(fields) == msgspec.json.encode(entry)
    assert msgspec.json.decode(encode_fields(fields), type=IndexedEntry) == entry
    assert b"\n" not in encode_fields(fields)  # documents are stored one per line


def test_bulk_commands_name_each_version_once_and_split_by_chunk() -> None:
    """A bulk write carries BULK_CHUNK entries per command and names every target version's hash in each."""
    docs = [(f"P{n:05d}", encode_fields((n, f"P{n:05d}", *FIELDS[0][2:]))) for n in range(BULK_CHUNK + 3)]
    commands = pack_documents(docs, [4, 5])
    assert [c.count for c in commands] == [BULK_CHUNK, 3]
    for command in commands:
        assert command.packed.count(entries_key(4).encode()) == command.packed.count(entries_key(5).encode()) == 1
        assert command.packed.startswith(b"*%d\r\n" % (6 + 2 * command.count))
    assert pack_documents(docs, []) == []
    (remove,) = pack_removes([(7, "ABC1234")], [4])
    key = ocr_key("ABC1234").encode()
    assert remove.packed.endswith(b"$3\r\ndel\r\n$7\r\n%b\r\n$1\r\n7\r\n" % key)
