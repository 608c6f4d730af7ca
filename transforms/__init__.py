"""The pipeline's stages, one module each, in pipeline order:

match.py (MatchImages) -> label.py (KeyByLabel) -> decode.py (DecodeAndResize)
-> encode.py (EncodeExamples) -> write.py (WriteShards).

errors.py, imaging.py and storage.py are the helpers they share.
"""
