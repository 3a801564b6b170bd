"""Container launcher of the node agent: turns one process into one container, then execs its command.

The node agent runs this file (standard library only, `python -I -S launch.py SPEC`) under
`unshare --mount --uts --propagation private`, so every mount below lives and dies with the container's
private mount namespace and the host's mount table is never touched. Inside that namespace it:

1. sets the hostname, mounts a tmpfs on the container's scratch directory and an overlay of the host's
   root filesystem (lower, read-only) with an upper layer in that tmpfs: the container sees the host's
   binaries (`/bin/sh`, `python3`, `node`: images are not pulled) and may write anywhere without
   changing the host;
2. binds the host's other top-level filesystems, `/proc` and `/sys`, and builds a minimal `/dev` and a
   fresh `/tmp`;
3. opens each volume's source, chroots into the overlay and only then binds every volume at its
   mountPath (read-only when asked), so symlinks in mount paths resolve inside the container;
4. changes to the working directory, drops to the container's uid, gid and supplementary groups (with
   no_new_privs when privilege escalation is off), then execs the command.

Success is signalled by the status pipe closing on exec (it is close-on-exec) with nothing written;
any failure before exec is written to the pipe as one line, which the agent reports as StartError.
It must not do anything else: no network, no Kubernetes API.
"""

import ctypes
import json
import os
import sys

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
PR_SET_NO_NEW_PRIVS = 38
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")

_libc = ctypes.CDLL(None, use_errno=True)


def mount(source, target, fstype=None, flags=0, data=None):
    """mount(2), raising OSError with the target in the message."""
    def enc(value):
        return value.encode() if value is not None else None

    if _libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {source} on {target}: {os.strerror(errno)}")


class LaunchError(Exception):
    """The container could not be set up; the message is what the agent reports."""


def host_mounts():
    """Mount points of the host's filesystems other than /, shallowest first."""
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].encode().decode("unicode_escape")
            if point != "/":
                points.append(point)
    return sorted(set(points), key=lambda p: (p.count("/"), p))


def build_root(spec):
    """Steps 1-2 of the module docstring; returns the path of the new root."""
    scratch = spec["scratch"]
    mount("container", scratch, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=2g")
    upper, work, root = (os.path.join(scratch, d) for d in ("upper", "work", "root"))
    for d in (upper, work, root):
        os.mkdir(d)
    mount("overlay", root, "overlay", 0, f"lowerdir=/,upperdir={upper},workdir={work}")

    # Other top-level filesystems of the host (a separate /usr, /home, /nix, ...) come along with
    # their submounts; /dev, /tmp and /run are the container's own.
    for point in host_mounts():
        top_level = point.count("/") == 1 and point not in ("/dev", "/tmp", "/run", "/proc", "/sys")
        if top_level and os.path.isdir(root + point):
            mount(point, root + point, None, MS_BIND | MS_REC)
    mount("/proc", root + "/proc", None, MS_BIND | MS_REC)
    mount("/sys", root + "/sys", None, MS_BIND | MS_REC)

    dev = root + "/dev"
    mount("dev", dev, "tmpfs", MS_NOSUID, "mode=0755,size=64k")
    for name in DEVICES:
        open(f"{dev}/{name}", "w").close()
        mount(f"/dev/{name}", f"{dev}/{name}", None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx")):
        os.symlink(target, f"{dev}/{name}")
    for name in ("pts", "shm"):
        os.mkdir(f"{dev}/{name}")
    mount("devpts", f"{dev}/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620")
    mount("shm", f"{dev}/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=64m")
    if not spec.get("readOnlyRootFilesystem"):
        mount("tmp", root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")

    return root


def mount_volumes(mounts):
    """Step 3, run after the chroot so that symlinks in mount paths (/var/run -> /run) resolve inside
    the container, never on the host. Sources were opened (O_PATH) before the chroot."""
    for m, fd in sorted(mounts, key=lambda pair: pair[0]["target"].rstrip("/").count("/")):
        target = os.path.normpath("/" + m["target"])
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if not os.path.exists(target):
                open(target, "w").close()
        mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)
        if m.get("readOnly"):
            mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY)
        os.close(fd)


def find_executable(name, path):
    """The file exec would run for `name` under the container's PATH (as runc looks it up)."""
    if "/" in name:
        return name
    for directory in path.split(":"):
        candidate = os.path.join(directory or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise LaunchError(f'exec: "{name}": executable file not found in $PATH')


def main(argv):
    with open(argv[1]) as f:
        spec = json.load(f)
    status = spec["statusFd"]
    os.set_inheritable(status, False)
    try:
        hostname = spec["hostname"].encode()
        if _libc.sethostname(hostname, len(hostname)) != 0:
            raise OSError(ctypes.get_errno(), "sethostname")
        root = build_root(spec)
        sources = [(m, os.open(m["source"], os.O_PATH | os.O_CLOEXEC)) for m in spec["mounts"]]
        os.chroot(root)
        os.chdir("/")
        mount_volumes(sources)
        working_dir = os.path.normpath("/" + (spec.get("workingDir") or "/"))
        os.makedirs(working_dir, exist_ok=True)
        if spec.get("readOnlyRootFilesystem"):
            mount(None, "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY)
        os.chdir(working_dir)
        os.setgroups(spec["groups"])
        os.setgid(spec["gid"])
        os.setuid(spec["uid"])
        if spec.get("noNewPrivileges") and _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
        os.umask(0o022)
        env = dict(spec["env"])
        argv = spec["argv"]
        executable = find_executable(argv[0], env.get("PATH", ""))
        try:
            os.execve(executable, argv, env)
        except OSError as error:
            raise LaunchError(f'exec: "{argv[0]}": {error.strerror}') from None
    except Exception as error:  # anything before exec is a StartError, reported on the pipe
        os.write(status, str(error).encode(errors="replace") + b"\n")
        return 128
    return 0  # not reached: exec replaced this process


if __name__ == "__main__":
    sys.exit(main(sys.argv))
