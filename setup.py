"""im2tfrecord: labelled image folders (local or S3) to sharded TFRecords with Apache Beam.

This file is both the package definition and Beam's ``--setup_file``: a runner
that ships code to remote workers builds an sdist from it and installs it there,
so every DoFn the pipeline uses must live in the packages listed below.
"""

import pathlib
import re

import setuptools

# One version, kept in pipeline/__init__.py (dataset_info.json records it).
VERSION = re.search(
    r'__version__ = "([^"]+)"', (pathlib.Path(__file__).parent / "pipeline" / "__init__.py").read_text()
)[1]

setuptools.setup(
    name="im2tfrecord",
    version=VERSION,
    description="Convert <prefix>/<label>/<image> trees on S3 or disk into sharded TFRecord files.",
    python_requires=">=3.10",
    packages=setuptools.find_packages(include=["pipeline", "pipeline.*", "transforms", "transforms.*"]),
    install_requires=[
        # The design pins Beam; its S3 filesystem comes with the [aws] extra.
        "apache-beam[aws]==2.77.0",
        "pillow>=10",
        "boto3>=1.26",
        "numpy",
        # C crc32c for TFRecord framing (pure Python would cost more than encoding).
        "google-crc32c>=1.5",
        # No TensorFlow: workers serialize Examples themselves (docs/formats.md, "Record schema").
    ],
    extras_require={
        # TensorFlow reads the records back in tests, as a training job would.
        # pytest-xdist runs the suite (but the cluster tests) in two processes:
        # its tests wait on servers and subprocesses half the time (docs/contributing.md, "Tests").
        # torch: pipeline.read's torch_dataset under a DataLoader and DDP
        # (tests/test_read_workers.py). PyPI's Linux wheel comes with CUDA's
        # libraries (5.3 GB installed, a minute from pip's cache): PyTorch's
        # CPU-only index is not reachable from every CI machine.
        "test": [
            "pytest>=8",
            "pytest-xdist>=3.5",
            "moto[server]>=5",
            "tensorflow>=2.16",
            "hypothesis>=6",
            "torch>=2.4",
        ],
        # tfx-bsl is the encoder bench/bench_encode.py compares ours with.
        "bench": ["tfx-bsl>=1.21,<2", "tensorflow>=2.16"],
    },
    entry_points={"console_scripts": ["im2tfrecord=pipeline:console_main"]},
)
