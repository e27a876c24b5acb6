"""ARM semihosting (the M-profile flavour: ``BKPT 0xAB``, operation in r0, argument
or parameter-block pointer in r1, result returned in r0).

Console: the special file ``:tt`` opened for reading is stdin, for writing ("w"
modes 4-7) stdout, for appending ("a" modes 8-11) stderr; SYS_WRITEC/SYS_WRITE0 go
to stdout.  Other names are host files relative to ``cwd``.  SYS_CLOCK is derived
from the simulated cycle count at ``clock_hz`` (deterministic); SYS_TIME is the
host's time.  SYS_EXIT follows the AArch32 rule (reason ADP_Stopped_ApplicationExit
gives exit code 0, any other reason 1); SYS_EXIT_EXTENDED carries the exit code.
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

SYS_OPEN, SYS_CLOSE, SYS_WRITEC, SYS_WRITE0, SYS_WRITE, SYS_READ = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
SYS_ISTTY, SYS_SEEK, SYS_FLEN, SYS_CLOCK, SYS_TIME, SYS_ERRNO = 0x09, 0x0A, 0x0C, 0x10, 0x11, 0x13
SYS_GET_CMDLINE, SYS_HEAPINFO, SYS_EXIT, SYS_EXIT_EXTENDED = 0x15, 0x16, 0x18, 0x20
ADP_STOPPED_APPLICATION_EXIT = 0x20026

OPEN_MODES = ["rb", "rb", "r+b", "r+b", "wb", "wb", "w+b", "w+b", "ab", "ab", "a+b", "a+b"]
STACK_RESERVE = 0x10000  # SYS_HEAPINFO: the heap ends this far below the initial SP


class Exited(Exception):
    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


class UnknownOperation(Exception):
    pass


class Console:
    """One end of the console: stdin (a byte string read in order) or an output."""

    def __init__(self, name: str, data: bytes = b""):
        self.name = name
        self.data = bytearray(data)


class Semihost:
    """Host side of the semihosting calls; ``memory`` has ``read(addr, n)`` and
    ``write(addr, data)``, ``cycles()`` gives the simulated cycle count."""

    def __init__(self, memory, cycles, *, stdin: bytes, cwd: str | Path,
                 argv: list[str], clock_hz: int, heap_base: int, initial_sp: int):
        self.memory = memory
        self.cycles = cycles
        self.cwd = Path(cwd)
        self.cmdline = " ".join(argv).encode()
        self.clock_hz = clock_hz
        self.heap_base = heap_base
        self.initial_sp = initial_sp
        self.stdin = Console("stdin", stdin)
        self.stdout = Console("stdout")
        self.stderr = Console("stderr")
        self.handles: dict[int, object] = {}
        self.next_handle = 1
        self.errno = 0

    def _word(self, address: int) -> int:
        return int.from_bytes(self.memory.read(address, 4), "little")

    def _words(self, address: int, n: int) -> list[int]:
        return [self._word(address + 4 * i) for i in range(n)]

    def _fail(self, code: int) -> int:
        self.errno = code
        return -1 & 0xFFFFFFFF

    def call(self, op: int, arg: int) -> int:
        """Perform one call; returns the value for r0 (unsigned 32-bit)."""
        handler = self.OPERATIONS.get(op)
        if handler is None:
            raise UnknownOperation(f"semihosting operation {op:#x} is not implemented")
        return handler(self, arg) & 0xFFFFFFFF

    def _open(self, arg: int) -> int:
        name_ptr, mode, length = self._words(arg, 3)
        name = self.memory.read(name_ptr, length).decode(errors="replace")
        if mode >= len(OPEN_MODES):
            return self._fail(errno.EINVAL)
        if name == ":tt":
            stream = self.stdin if mode < 4 else self.stdout if mode < 8 else self.stderr
        else:
            try:
                stream = open(self.cwd / name, OPEN_MODES[mode])
            except OSError as e:
                return self._fail(e.errno or errno.EIO)
        handle = self.next_handle
        self.next_handle += 1
        self.handles[handle] = stream
        return handle

    def _close(self, arg: int) -> int:
        stream = self.handles.pop(self._word(arg), None)
        if stream is None:
            return self._fail(errno.EBADF)
        if not isinstance(stream, Console):
            stream.close()
        return 0

    def _writec(self, arg: int) -> int:
        self.stdout.data += self.memory.read(arg, 1)
        return 0

    def _write0(self, arg: int) -> int:
        while (c := self.memory.read(arg, 1)) != b"\0":
            self.stdout.data += c
            arg += 1
        return 0

    def _write(self, arg: int) -> int:
        handle, buf, length = self._words(arg, 3)
        stream = self.handles.get(handle)
        data = self.memory.read(buf, length)
        if isinstance(stream, Console) and stream is not self.stdin:
            stream.data += data
            return 0
        if stream is None or isinstance(stream, Console):
            self.errno = errno.EBADF
            return length
        return length - stream.write(data)

    def _read(self, arg: int) -> int:
        handle, buf, length = self._words(arg, 3)
        stream = self.handles.get(handle)
        if stream is self.stdin:
            data = bytes(self.stdin.data[:length])
            del self.stdin.data[:length]
        elif stream is None or isinstance(stream, Console):
            self.errno = errno.EBADF
            return length
        else:
            data = stream.read(length)
        self.memory.write(buf, data)
        return length - len(data)

    def _istty(self, arg: int) -> int:
        stream = self.handles.get(self._word(arg))
        if stream is None:
            return self._fail(errno.EBADF)
        return 1 if isinstance(stream, Console) else 0

    def _seek(self, arg: int) -> int:
        handle, position = self._words(arg, 2)
        stream = self.handles.get(handle)
        if stream is None or isinstance(stream, Console):
            return self._fail(errno.EBADF)
        stream.seek(position)
        return 0

    def _flen(self, arg: int) -> int:
        stream = self.handles.get(self._word(arg))
        if stream is None or isinstance(stream, Console):
            return self._fail(errno.EBADF)
        return os.fstat(stream.fileno()).st_size

    def _clock(self, arg: int) -> int:
        return self.cycles() * 100 // self.clock_hz

    def _time(self, arg: int) -> int:
        return int(time.time())

    def _errno(self, arg: int) -> int:
        return self.errno

    def _get_cmdline(self, arg: int) -> int:
        buf, length = self._words(arg, 2)
        if len(self.cmdline) + 1 > length:
            return self._fail(errno.E2BIG)
        self.memory.write(buf, self.cmdline + b"\0")
        self.memory.write(arg + 4, len(self.cmdline).to_bytes(4, "little"))
        return 0

    def _heapinfo(self, arg: int) -> int:
        block = self._word(arg)
        limit = self.initial_sp - STACK_RESERVE
        info = [self.heap_base, limit, self.initial_sp, limit]
        self.memory.write(block, b"".join(v.to_bytes(4, "little") for v in info))
        return 0

    def _exit(self, arg: int) -> int:
        raise Exited(0 if arg == ADP_STOPPED_APPLICATION_EXIT else 1)

    def _exit_extended(self, arg: int) -> int:
        reason, code = self._words(arg, 2)
        if reason != ADP_STOPPED_APPLICATION_EXIT:
            raise Exited(1)
        raise Exited(code - (1 << 32) if code & 0x80000000 else code)

    def close_all(self) -> None:
        for stream in self.handles.values():
            if not isinstance(stream, Console):
                stream.close()
        self.handles.clear()

    OPERATIONS = {
        SYS_OPEN: _open, SYS_CLOSE: _close, SYS_WRITEC: _writec, SYS_WRITE0: _write0,
        SYS_WRITE: _write, SYS_READ: _read, SYS_ISTTY: _istty, SYS_SEEK: _seek,
        SYS_FLEN: _flen, SYS_CLOCK: _clock, SYS_TIME: _time, SYS_ERRNO: _errno,
        SYS_GET_CMDLINE: _get_cmdline, SYS_HEAPINFO: _heapinfo, SYS_EXIT: _exit,
        SYS_EXIT_EXTENDED: _exit_extended,
    }
