"""One backup of a set and night at a time, through a lease object and conditional writes.

The lease is `backups/<date>/<set>.lease.json`: who holds the night and until when. A run takes
it with If-None-Match (nobody had it) or If-Match on the ETag it read (the holder finished, its
lease ran out, or it crashed on this machine), renews it every third of its length, and renews
it once more (If-Match on its own ETag) just before writing the manifest, however much of it is
left. A second run meanwhile stops with a clear message instead of interleaving its uploads and
manifest with the first's.

"Crashed on this machine" needs proof, not a hostname: cloned machines and host-network
containers share hostnames, and a PID missing from one PID namespace may live in another. The
holder records the kernel's boot id and its PID namespace; only a run that sees both equal to
its own (the same running kernel, the same namespace) may read a missing PID as a crash. Where
either cannot be read (not Linux), the lease is waited out.

Nothing is ever deleted (backup identities have no s3:DeleteObject); an old lease is simply
overwritten, and lifecycle removes it with the night. A server that does not enforce
conditional writes (rclone's serve s3 overwrites) cannot give this guarantee.

Taking the lease is a run's first write, under the run's own encryption, so `answer` (what the
server said it applied to the lease) is where the backup confirms that encryption before it
sends any document.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from docbackup import layout
from docbackup.errors import DocbackupError, ObjectNotFound, PreconditionFailed
from docbackup.storage.base import Encryption, ObjectInfo, Store

# Renewed every LEASE_S / 3 seconds; a crashed holder elsewhere blocks the night this long.
LEASE_S = 90.0


class NightBusy(DocbackupError):
    """Another backup holds this set and night."""


class Lease:
    def __init__(
        self,
        store: Store,
        date: dt.date,
        set_name: str,
        encryption: Encryption,
        *,
        lease_s: float = LEASE_S,
        clock: Callable[[], float] = time.time,
        time_left: Callable[[], float] | None = None,
    ) -> None:
        self.store = store
        self.key = layout.lease_key(date, set_name)
        self.what = f"set {set_name!r} for {date}"
        self.encryption = encryption
        self.lease_s = lease_s
        self.clock = clock
        self.time_left = time_left
        self.run_id = uuid.uuid4().hex
        self.started = clock()
        self._etag: str | None = None
        self._server_time: dt.datetime | None = None  # the Date of a lease write's answer
        self._valid_until = 0.0
        self._renewed_at = 0  # counts the lease writes that landed
        self._released = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost: str | None = None
        # The encryption (algorithm, KMS key) the server reported for the lease it holds.
        self.answer: tuple[str | None, str | None] = (None, None)

    def _body(self, now: float) -> dict[str, Any]:
        expires = now + self.lease_s
        if self.time_left is not None:
            # Never past the caller's own end (a Lambda's timeout): the retry that follows a
            # timeout must not find the night still held by the run that timed out.
            expires = min(expires, now + max(0.0, self.time_left()))
        return {
            "run": self.run_id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            **machine_identity(),
            "started": self.started,
            "expires": 0 if self._released else expires,
        }

    def _put(self, *, if_none_match: bool = False, if_match: str | None = None) -> None:
        sent = self.clock()  # the lease counts from before the request, not its answer
        body = self._body(sent)
        data = json.dumps(body).encode()
        sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
        try:
            stored = self.store.put(
                self.key,
                data,
                sha256_b64=sha,
                metadata={},
                encryption=self.encryption,
                if_none_match=if_none_match,
                if_match=if_match,
            )
            etag, answer = stored.etag, (stored.sse, stored.kms_key_id)
            self._server_time = stored.server_time or self._server_time
        except PreconditionFailed:
            # botocore resends a write whose answer was lost; if the first one landed, the
            # resend is refused. The lease then holds our own run id: it is still ours.
            # (A refused create is sorted out by _take_over, which reads the lease anyway.)
            ours = None if if_none_match else self._ours()
            if ours is None:
                raise
            etag, answer = ours.etag, (ours.sse, ours.kms_key_id)
        self._etag = etag
        self.answer = answer
        self._renewed_at += 1
        self._valid_until = float(body["expires"]) if body["expires"] else sent

    def server_time(self) -> dt.datetime | None:
        """When the server says it stored this run's lease (its own clock, not this machine's):
        the Date of its answer to the lease's write, else read back; None if neither says."""
        if self._server_time is not None:
            return self._server_time
        try:
            info = self.store.head(self.key)
        except DocbackupError:
            return None
        if info is None:
            return None
        moment = info.last_modified
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)

    def _ours(self) -> ObjectInfo | None:
        """The lease as stored (its ETag and encryption) if it is this run's, else None."""
        info = self.store.head(self.key)
        if info is None:
            return None
        try:
            with self.store.open(self.key, info.version_id) as body:
                holder = json.loads(body.read())
        except (ObjectNotFound, ValueError):
            return None
        return info if holder.get("run") == self.run_id else None

    def acquire(self, *, finished_after: Callable[[float], bool]) -> None:
        """Take the night, or raise NightBusy. `finished_after(t)`: did a run that started at
        t already write its manifest (then its lease no longer matters)?"""
        try:
            self._put(if_none_match=True)
        except PreconditionFailed:
            self._take_over(finished_after)
        self._thread = threading.Thread(target=self._renew_loop, daemon=True, name="lease")
        self._thread.start()

    def _take_over(self, finished_after: Callable[[float], bool]) -> None:
        info = self.store.head(self.key)
        try:
            with self.store.open(self.key, info.version_id if info else None) as body:
                holder = json.loads(body.read())
        except (ObjectNotFound, ValueError):
            holder = {}
        if info is None:
            raise NightBusy(f"the lease on {self.what} changed while it was read; try again")
        if holder.get("run") == self.run_id:  # our own create landed; its answer was lost
            self._etag, self._valid_until = info.etag, float(holder["expires"])
            self.answer = (info.sse, info.kms_key_id)
            return
        if not _holder_gone(holder, self.clock(), finished_after):
            until = dt.datetime.fromtimestamp(float(holder["expires"]), dt.UTC)
            raise NightBusy(
                f"another backup of {self.what} is running ({describe_holder(holder)}); its "
                f"lease runs to {until:%H:%M:%S} UTC. Wait for it to finish, or run again after "
                "that time"
            )
        try:
            self._put(if_match=info.etag)
        except PreconditionFailed:
            raise NightBusy(f"another backup of {self.what} took it over just now") from None

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            if not self.renew():
                return

    def renew(self) -> bool:
        """Extend the lease; False (and `lost` says why) if someone else holds it now."""
        with self._lock:
            if self.lost:
                return False
            try:
                self._put(if_match=self._etag)
            except (PreconditionFailed, ObjectNotFound):
                self.lost = f"the lease on {self.what} was taken over by {self._holder()}"
                return False
            except DocbackupError:
                pass  # not renewed this time; held() notices if it runs out meanwhile
            return True

    def held(self, *, margin_s: float = 0.0) -> bool:
        """Still ours for at least margin_s more seconds: not taken over, not run out."""
        with self._lock:
            if self.lost is None and self.clock() + margin_s >= self._valid_until:
                if margin_s == 0.0:
                    self.lost = f"the lease on {self.what} ran out before it could be renewed"
                return False
            return self.lost is None

    def confirm(self) -> bool:
        """Just before the manifest: renewed right now (If-Match on our own ETag), whatever
        time was left. Room to spare proves nothing when another machine's clock ran ahead
        and it took the lease over meanwhile."""
        before = self._renewed_at
        if not self.renew():
            return False
        if self._renewed_at == before:
            # renew() lets a transient error pass (a later renewal may land); here only a
            # renewal that landed proves the night is still ours.
            with self._lock:
                if self.lost is None:
                    self.lost = (
                        f"the lease on {self.what} could not be renewed, so the manifest "
                        "could not be written"
                    )
            return False
        return self.held()

    def _holder(self) -> str:
        """Who holds the lease now, in words: its run id, machine and process."""
        try:
            with self.store.open(self.key) as body:
                holder = json.loads(body.read())
        except (DocbackupError, ValueError):
            return "another backup"
        if not isinstance(holder, dict):
            return "another backup"
        return describe_holder(holder)

    def stop(self, *, release: bool) -> None:
        """Stop renewing. With release, give the night up at once (a run that ends without a
        manifest); otherwise the manifest it wrote already tells the next run it finished."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if release:
            with self._lock:
                if self.lost is None:
                    self._released = True
                    with contextlib.suppress(DocbackupError):
                        self._put(if_match=self._etag)


def _holder_gone(
    holder: dict[str, Any], now: float, finished_after: Callable[[float], bool]
) -> bool:
    """The holder finished, ran out, or crashed on this machine: the night may be taken."""
    try:
        expires, started = float(holder["expires"]), float(holder["started"])
    except (KeyError, TypeError, ValueError):
        return True  # not a lease this docbackup wrote: nothing to honour
    if expires <= now or finished_after(started):
        return True
    # A holder in this very kernel and PID namespace whose process is gone has crashed: no need
    # to wait it out. Anything less (a hostname) is no proof: see the module's docstring.
    mine = machine_identity()
    same = bool(mine) and all(holder.get(k) == v for k, v in mine.items())
    try:
        pid = int(holder.get("pid", 0))
    except (TypeError, ValueError):
        return False
    return same and not _alive(pid)


def describe_holder(holder: dict[str, Any]) -> str:
    """A lease's holder in words, for the message of the run that meets it."""
    return f"run {str(holder.get('run'))[:12]} on {holder.get('host')}, pid {holder.get('pid')}"


def machine_identity() -> dict[str, str]:
    """The running kernel (boot id) and this process's PID namespace, or {} when either is
    unknown: a PID means something only within both."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            boot = f.read().strip()
        pidns = os.readlink("/proc/self/ns/pid")
    except OSError:
        return {}
    if not boot or not pidns:
        return {}
    return {"boot": boot, "pidns": pidns}


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
