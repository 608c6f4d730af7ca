"""Streams that count and sha256 what passes through them.

dataset_info.json records each shard's size and sha256. The writer hashes
while it writes, and the reader and `inspect` while they read, so no file
is ever read a second time just to be checked.
"""

import hashlib
import io


class HashingWriter:
    """Passes writes through to `sink`, counting and hashing them."""

    def __init__(self, sink):
        self._sink = sink
        self._sha256 = hashlib.sha256()
        self.num_bytes = 0

    def write(self, data):
        self._sink.write(data)
        self._sha256.update(data)
        self.num_bytes += len(data)

    def hexdigest(self):
        return self._sha256.hexdigest()


class HashingReader(io.RawIOBase):
    """A raw stream over `stream` that counts and hashes every byte read;
    `on_bytes(n)` hears of each read (a progress line). Wrap it in an
    io.BufferedReader to read it in large pieces."""

    def __init__(self, stream, on_bytes=None):
        super().__init__()
        self._stream = stream
        self._on_bytes = on_bytes
        self._sha256 = hashlib.sha256()
        self.num_bytes = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self._stream.read(len(buffer))
        self._sha256.update(data)
        self.num_bytes += len(data)
        if self._on_bytes is not None:
            self._on_bytes(len(data))
        buffer[: len(data)] = data
        return len(data)

    def hexdigest(self):
        return self._sha256.hexdigest()

    def close(self):
        self._stream.close()
        super().close()


def drain(stream, chunk_bytes=1 << 20):
    """Reads `stream` to its end (to finish a hash)."""
    while stream.read(chunk_bytes):
        pass
