"""The conversion's stages and what they stand on. Imports nothing from pipeline/.

The stages, in the order pipeline/convert/job.py composes them:

  match.py          MatchImages: the files under --input with image extensions
  label.py          KeyByLabel, ClassNames: each path keyed by its class
  split.py          AssignSplits: each image's split and seeded hashes
  shard.py          PlanShards: which shard each image goes to (paths only)
  shard_writer.py   WriteShardStreams: fetch, decode, encode, write a shard
                    (shard_stream.py), in the worker's process or in
                    processes of their own (shard_processes.py), leaving
                    progress records (progress_records.py)
  dataset_info.py   Finalize: labels.txt, errors.jsonl, dataset_info.json
  (--writer beam:   decode.py DecodeAndResize -> encode.py EncodeExamples
                    -> write.py WriteShards, Beam's WriteToTFRecord)

What they stand on:

  formats/          one module per record format (TFRecord, RecordIO)
  schema.py         the tf.train.Example feature keys, per schema
  example_proto.py  tf.train.Example serialization, without TensorFlow
  converting.py     images fetched and converted by a thread pool
  imaging.py, pixel_checks.py   one image decoded, checked, resized, encoded
  layout.py         the output folder's file names, split names, labels.txt; ShardInfo
  sorted_lines.py   the bytes of errors.jsonl and duplicates.jsonl, from their lines
  storage.py, listing.py, hashing.py   files on disk and S3 (no Beam imports)
  errors.py, metrics.py         error rows and counters
  progress_records.py           a job's progress told through --output (ShardProgress, ProgressReader)
  ownership.py, resume.py       which output files are ours; resuming a run
  parts.py          --write_part: which shards one of several machines writes
  stopping.py       a Ctrl-C or SIGTERM heard by shard writers in every thread and process
  native_noise.py   libtiff's messages kept off stderr
"""
