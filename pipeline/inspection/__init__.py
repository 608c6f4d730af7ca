"""`im2tfrecord inspect`: check a converted dataset before training on it.

  main.py           the command
  dataset.py        dataset_info.json, parsed into named fields
  checks.py         files and counts against dataset_info.json; the record pass
  records.py        one shard read back record by record, through its format
  report.py         the report, as text or JSON
  contact_sheet.py  sample images per class, one row each

Named `inspection`, not `inspect`, which would shadow the standard library.
"""
