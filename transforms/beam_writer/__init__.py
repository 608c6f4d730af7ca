"""--writer beam: the design's plain form of the writing stages, apart from
the default writer (shard_writer.py) so that the two are not taken for one
another.

  decode.py   DecodeAndResize: fetch, decode and resize each image
  encode.py   EncodeExamples: each image as a serialized tf.train.Example
  write.py    WriteShards: Beam's own WriteToTFRecord

Beam's WriteToTFRecord shards by bundle order (two runs give different
files), writes each shard as one class after another, and holds every
encoded image in its GroupByKey: the default writer exists for those three
reasons (its docstring). This form is kept as the reference a Beam user
knows, TFRecord only, without statistics or a duplicate report.
"""
