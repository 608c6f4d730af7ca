"""The conversion's stages and what they stand on. Imports nothing from pipeline/.

The order of the stages, and what each does, is written once: in
pipeline/convert/job.py's docstring. This is the map of the modules here:

The stages (the default writer):

  match.py          MatchImages: the files under --input with image extensions
  manifest.py       ReadManifest: labelled paths from --manifest's rows instead
  label.py          KeyByLabel, ClassNames: each path keyed by its class
  dedupe.py         DedupeByContent: --dedupe, one copy of each distinct file
  split.py          AssignSplits: each image's split and seeded hashes
  shard.py          PlanShards: which shard each image goes to (paths only)
  shard_writer.py   WriteShardStreams: fetch, decode, encode, write a shard
                    (shard_stream.py), in the worker's process or in
                    processes of their own (shard_processes.py), leaving
                    progress records (progress_records.py)
  find_duplicates.py  FindDuplicates: the records grouped by their hashes
  dataset_info.py   Finalize: labels.txt, errors.jsonl, duplicates.jsonl,
                    dataset_info.json

The stages of --writer beam, Beam's plain form, in place of the writing ones:

  beam_writer/      decode.py DecodeAndResize, encode.py EncodeExamples,
                    write.py WriteShards (Beam's WriteToTFRecord)

What they stand on:

  formats/          one module per record format (TFRecord, RecordIO)
  schema.py         the tf.train.Example feature keys, per schema
  example_proto.py  tf.train.Example serialization, without TensorFlow
  converting.py     images fetched and converted by a thread pool
  imaging.py, pixel_checks.py   one image decoded, checked, resized, encoded
  statistics.py     per-split pixel statistics of the stored images
  dataset_warnings.py  every warning's key in dataset_info.json and its summary line
  skipped.py        which files are read (image extensions); the skipped ones by kind
  duplicates.py     exact duplicates among the written images (the report's rules)
  layout.py         the output folder's file names, split names, labels.txt; ShardInfo
  sorted_lines.py   the bytes of errors.jsonl and duplicates.jsonl, from their lines
  sorted_file.py    a file of sorted lines, without one worker holding every line
  grouping.py, ranking.py       groups and ranks in bounded pieces (docs/performance.md, "Scale")
  key_ranges.py, line_ranges.py one S3 prefix listed, one text file read, in parallel ranges
  paths.py          the path rules: URLs, joins, paths relative to --input
  storage.py, listing.py, hashing.py   files on disk and S3 (no Beam imports)
  errors.py, metrics.py         error rows and counters
  progress_records.py           a job's progress told through --output (ShardProgress, ProgressReader)
  ownership.py, resume.py       which output files are ours; resuming a run
  parts.py          --write_part: which shards one of several machines writes
  stopping.py       a Ctrl-C or SIGTERM heard by shard writers in every thread and process
  native_noise.py   libtiff's messages kept off stderr
"""
