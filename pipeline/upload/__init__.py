"""`im2tfrecord upload`: copy a local image tree to S3, resumably.

main.py      the command: arguments, the file walk, the report
objects.py   one file to one object: skip if identical, put or multipart, resume
"""
