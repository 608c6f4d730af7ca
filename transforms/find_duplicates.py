"""Groups the records by their sha256 hashes (duplicates.py says why).

Two GroupByKeys, on the file hash and on the stored-image hash, spread over
the workers; only groups of two or more images come out, so what the last
step holds grows with the duplicates, not with the dataset. Each record's
hashes cross the shuffle (about 200 bytes apiece, twice), never its bytes.
"""

import apache_beam as beam

from transforms import duplicates


class FindDuplicates(beam.PTransform):
    """ImageHashes -> one dict per group of records with the same file bytes
    (basis "file") or the same stored image from different files (basis
    "stored_image"): sha256, kinds, copies (path, label, split)."""

    def expand(self, hashes):
        by_file = (
            hashes
            | "ByFile" >> beam.Map(lambda row: (row.source_sha256, row))
            | "GroupFile" >> beam.GroupByKey()
            | "FileGroups" >> beam.FlatMap(duplicates.group, duplicates.FILE)
        )
        by_stored = (
            hashes
            | "ByStored" >> beam.Map(lambda row: (row.stored_sha256, row))
            | "GroupStored" >> beam.GroupByKey()
            | "StoredGroups" >> beam.FlatMap(duplicates.group, duplicates.STORED)
        )
        return (by_file, by_stored) | "AllGroups" >> beam.Flatten()
