"""Writes a runnable thin jar: a manifest naming a main class and, as its
Class-Path, every jar of a folder beside it.

`java -jar THIN.jar` then runs with all of them on the class path, which is
how Beam starts a job server from `--flink_job_server_jar` or
`--spark_job_server_jar`. A thin jar rather than a shaded one: nothing is
merged, so no service registration (META-INF/services) or signature can be
lost in the merge, and building it takes a second instead of a shade build.

  python3 thin_jar.py OUT.jar MAIN_CLASS LIB_DIR [--without-gcs]

--without-gcs (Spark): Beam's GCS filesystem registers itself from
beam-sdks-java-extensions-google-cloud-platform-core, and on a Spark executor
that registration loads Google's GCS connector against the guava-14 on
Spark's own class path, which fails every first task with NoSuchMethodError
(Preconditions.checkState). The job server still needs the module's classes
(GcsOptions), so only its registration file is left out of the copy in LIB_DIR:
this tool's files are on S3 or local disks, and those are read by the Python
SDK, never by the Java side.
"""

import os
import sys
import zipfile

# Spark (and the Beam code that reaches into java.nio buffers) needs these
# packages open on Java 17; `java -jar` reads them from the main jar's
# manifest (Add-Opens), so no launcher flag is needed.
ADD_OPENS = [
    "java.base/java.lang",
    "java.base/java.lang.invoke",
    "java.base/java.lang.reflect",
    "java.base/java.io",
    "java.base/java.net",
    "java.base/java.nio",
    "java.base/java.util",
    "java.base/java.util.concurrent",
    "java.base/java.util.concurrent.atomic",
    "java.base/sun.nio.ch",
    "java.base/sun.nio.cs",
    "java.base/sun.security.action",
    "java.base/sun.util.calendar",
]

# The jar specification caps manifest lines at 72 bytes; longer values go on
# continuation lines that start with one space.
_LINE_BYTES = 72


def _header(name, value):
    data = f"{name}: {value}".encode("utf-8")
    lines = [data[:_LINE_BYTES]]
    for start in range(_LINE_BYTES, len(data), _LINE_BYTES - 1):
        lines.append(b" " + data[start : start + _LINE_BYTES - 1])
    return b"\r\n".join(lines) + b"\r\n"


def manifest(main_class, class_path):
    return (
        _header("Manifest-Version", "1.0")
        + _header("Main-Class", main_class)
        + _header("Class-Path", " ".join(class_path))
        + _header("Add-Opens", " ".join(ADD_OPENS))
        + b"\r\n"
    )


_GCS_MODULE = "beam-sdks-java-extensions-google-cloud-platform-core-"
_FILESYSTEM_REGISTRAR = "META-INF/services/org.apache.beam.sdk.io.FileSystemRegistrar"


def drop_entry(jar_path, entry):
    """Rewrites a jar without one entry (a no-op when it has none)."""
    with zipfile.ZipFile(jar_path) as source:
        if entry not in source.namelist():
            return
        temp = jar_path + ".tmp"
        with zipfile.ZipFile(temp, "w", zipfile.ZIP_DEFLATED) as target:
            for item in source.infolist():
                if item.filename != entry:
                    target.writestr(item, source.read(item.filename))
    os.replace(temp, jar_path)


def main(out_jar, main_class, lib_dir, without_gcs=False):
    jars = sorted(name for name in os.listdir(lib_dir) if name.endswith(".jar"))
    if not jars:
        sys.exit(f"thin_jar: no jars in {lib_dir}")
    if without_gcs:
        for name in jars:
            if name.startswith(_GCS_MODULE):
                drop_entry(os.path.join(lib_dir, name), _FILESYSTEM_REGISTRAR)
    # Class-Path entries are URLs relative to the thin jar's folder.
    relative = os.path.relpath(lib_dir, os.path.dirname(os.path.abspath(out_jar)))
    class_path = [f"{relative}/{name}" for name in jars]
    temp = out_jar + ".tmp"
    with zipfile.ZipFile(temp, "w", zipfile.ZIP_DEFLATED) as jar:
        jar.writestr("META-INF/MANIFEST.MF", manifest(main_class, class_path))
    os.replace(temp, out_jar)


if __name__ == "__main__":
    args = sys.argv[1:]
    flags = [arg for arg in args if arg.startswith("--")]
    positional = [arg for arg in args if not arg.startswith("--")]
    if len(positional) != 3 or set(flags) - {"--without-gcs"}:
        sys.exit("usage: python3 thin_jar.py OUT.jar MAIN_CLASS LIB_DIR [--without-gcs]")
    main(*positional, without_gcs="--without-gcs" in flags)
