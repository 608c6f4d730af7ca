"""SageMaker Processing: the container entrypoint and the job launcher (see README.md)."""
