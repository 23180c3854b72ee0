"""The confinement steps a program's process applies to itself before the program's first byte runs.

Each step is one small function, called in order by `sandbox.unsafe_execute`:
- `set_limits`: rlimits on address space, CPU seconds, file size, open files, processes and
  threads (counted per user, so it holds only after the uid drop), POSIX message queues.
- `new_ipc_namespace` (root, and only when seccomp is off: seccomp refuses SysV IPC already):
  SysV segments, queues and semaphores vanish with the program; nobody else's are visible.
- `drop_privileges` (only when the pool runs as root): no supplementary groups and uid/gid `uid`,
  a number no account uses: every capability is gone (nice -20, SCHED_FIFO, chown/chmod/utime/
  xattrs on others' files, immutable flags fail) and kill(-1) reaches only that uid.
- `apply_landlock` (Linux 5.13+): writes only below the zygote's scratch folder; from ABI 6 (Linux
  6.12) no signals and no abstract UNIX sockets to anything outside the program. A Landlock domain
  also cannot ptrace, or open /proc/<pid>/fd of, processes outside it (the zygote included).
- `apply_seccomp` (x86_64, aarch64): no new processes (threads pass), no sockets, no SysV IPC, no
  memfd (memory the address-space cap does not count).

The uid drop (with the IPC namespace), Landlock and seccomp can each be switched off
(`execution.Confinement`), so tests show the other two still hold. Not covered: reads (a program
can read what its user can), CPU and memory beyond the rlimits, files under world-writable folders
when Landlock is off. This is a robustness boundary for generated code, not a security sandbox.
"""

from __future__ import annotations

import ctypes
import os
import resource
import struct

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 1, 38, 22, 2
CLONE_NEWIPC = 0x08000000
LANDLOCK_CREATE, LANDLOCK_ADD_RULE, LANDLOCK_RESTRICT = 444, 445, 446  # same on x86_64 and aarch64
MAX_THREADS = 256  # processes + threads of the program's uid (RLIMIT_NPROC)
MAX_OPEN_FILES = 64  # times the file-size cap: the most open memory-backed files (memfd) can hold


def prctl(option: int, arg: int) -> None:
    if _libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option})")


def set_limits(memory_mb: int, cpu_s: float, file_bytes: int) -> None:
    for limit, value in ((resource.RLIMIT_AS, memory_mb << 20), (resource.RLIMIT_FSIZE, file_bytes),
                         (resource.RLIMIT_NOFILE, MAX_OPEN_FILES), (resource.RLIMIT_NPROC, MAX_THREADS),
                         (resource.RLIMIT_MSGQUEUE, 0)):
        resource.setrlimit(limit, (value, value))
    cpu = max(1, int(cpu_s + 0.999))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))  # SIGXCPU at the soft limit, then SIGKILL


def new_ipc_namespace() -> None:
    if _libc.unshare(CLONE_NEWIPC) != 0:  # needs CAP_SYS_ADMIN: a container may refuse it
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWIPC)")


def drop_privileges(uid: int) -> None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # all three non-zero: the kernel clears every capability


def landlock_ruleset(folder: str) -> tuple[int | None, int]:
    """(a ruleset fd allowing writes only below `folder`, or None; the kernel's Landlock ABI, 0 if none)."""
    abi = _libc.syscall(LANDLOCK_CREATE, None, 0, 1)
    if abi < 1:
        return None, 0
    writes = sum(1 << b for b in (1, 4, 5, 6, 7, 8, 9, 10, 11, 12))  # write, remove, make_*
    writes |= (1 << 13 if abi >= 2 else 0) | (1 << 14 if abi >= 3 else 0)  # refer, truncate
    attr = struct.pack("<QQQ", writes, 0, 0b11) if abi >= 6 else struct.pack("<Q", writes)  # 0b11: scope signals, sockets
    fd = _libc.syscall(LANDLOCK_CREATE, attr, len(attr), 0)
    if fd < 0:
        return None, abi
    dirfd = os.open(folder, os.O_PATH | os.O_CLOEXEC)
    rule = struct.pack("<Qi", writes, dirfd)  # landlock_path_beneath_attr is packed: 12 bytes
    ok = _libc.syscall(LANDLOCK_ADD_RULE, fd, 1, rule, 0) == 0
    os.close(dirfd)
    if not ok:
        os.close(fd)
        return None, abi
    return fd, abi


def apply_landlock(ruleset: int) -> None:
    if _libc.syscall(LANDLOCK_RESTRICT, ruleset, 0) != 0:
        raise OSError(ctypes.get_errno(), "landlock_restrict_self")


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]


EAGAIN, EACCES, EPERM, ENOSYS = 11, 13, 1, 38
# Refused calls and their errno: EAGAIN reads as "no more processes" to programs; clone3 gets
# ENOSYS so glibc falls back to clone, whose flags the filter can read (threads pass).
REFUSED = {"fork": EAGAIN, "vfork": EAGAIN, "clone3": ENOSYS, "socket": EACCES, "socketpair": EACCES,
           "memfd_create": EPERM, "memfd_secret": EPERM, "shmget": EPERM, "shmat": EPERM, "shmctl": EPERM,
           "shmdt": EPERM, "semget": EPERM, "semop": EPERM, "semctl": EPERM, "semtimedop": EPERM,
           "msgget": EPERM, "msgsnd": EPERM, "msgrcv": EPERM, "msgctl": EPERM}
SYSCALLS = {  # machine -> (AUDIT_ARCH, {name: number}); aarch64 has no fork/vfork
    "x86_64": (0xC000003E, dict(fork=57, vfork=58, clone=56, clone3=435, socket=41, socketpair=53, memfd_create=319,
                                memfd_secret=447, shmget=29, shmat=30, shmctl=31, shmdt=67, semget=64, semop=65,
                                semctl=66, semtimedop=220, msgget=68, msgsnd=69, msgrcv=70, msgctl=71)),
    "aarch64": (0xC00000B7, dict(clone=220, clone3=435, socket=198, socketpair=199, memfd_create=279, memfd_secret=447,
                                 shmget=194, shmat=196, shmctl=195, shmdt=197, semget=190, semop=193, semctl=191,
                                 semtimedop=192, msgget=186, msgsnd=189, msgrcv=188, msgctl=187)),
}


def seccomp_filter() -> _SockFprog | None:
    """The BPF program: REFUSED calls fail with their errno, clone only with CLONE_THREAD; the rest pass."""
    if os.uname().machine not in SYSCALLS:
        return None
    audit, numbers = SYSCALLS[os.uname().machine]
    allow = 0x7FFF0000
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    prog = [(ld, 0, 0, 4), (jeq, 1, 0, audit), (ret, 0, 0, 0x50000 | ENOSYS), (ld, 0, 0, 0)]
    if audit == 0xC000003E:
        prog += [(jge, 0, 1, 0x40000000), (ret, 0, 0, 0x50000 | ENOSYS)]  # the x32 ABI's aliases
    for name, err in REFUSED.items():
        if name in numbers:
            prog += [(jeq, 0, 1, numbers[name]), (ret, 0, 0, 0x50000 | err)]
    prog += [(jeq, 0, 4, numbers["clone"]), (ld, 0, 0, 16), (jset, 0, 1, 0x10000), (ret, 0, 0, allow),
             (ret, 0, 0, 0x50000 | EAGAIN), (ret, 0, 0, allow)]
    return _SockFprog(len(prog), b"".join(struct.pack("<HBBI", *ins) for ins in prog))


def apply_seccomp(bpf: _SockFprog) -> None:
    if _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.c_void_p(ctypes.addressof(bpf)), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "seccomp")
