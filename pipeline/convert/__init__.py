"""`im2tfrecord [convert]`: labelled image folders to sharded records.

main.py        the command: parse, check, run, summarise
options.py     ConvertOptions (a PipelineOptions subclass) and their validation
preflight.py   checks of what the options name, before any work
job.py         the Beam pipeline, its stages in order
plan.py        --plan: the stages before decoding, printed
summary.py     the end-of-run summary
demo_images.py a generated demo tree (make demo)
"""
