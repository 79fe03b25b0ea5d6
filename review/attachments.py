"""Files attached to cases: inspection photos and lab reports.

Checked by their first bytes (JPEG, PNG or PDF only, whatever the browser says), size-limited,
stored under a random name in a folder outside the web root (mode 0600) and served back with
the checked type, never the uploaded one.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from pathlib import Path

from starlette.datastructures import UploadFile

from review.db import sqlite_file

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
ATTACHMENTS_ENV = "CUSTOMS_RISK_ATTACHMENTS"
KINDS = (  # first bytes -> (content type, extension)
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
    (b"%PDF-", "application/pdf", ".pdf"),
)
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")
CHUNK = 64 * 1024


def attachments_folder(database_url: str | None) -> Path | None:
    """Where attachments are kept: $CUSTOMS_RISK_ATTACHMENTS, else beside a SQLite file."""
    if from_env := os.environ.get(ATTACHMENTS_ENV, ""):
        return Path(from_env)
    db = sqlite_file(database_url) if database_url else None
    return db.with_name(db.name + ".attachments") if db else None


def sniff(head: bytes) -> tuple[str, str] | None:
    """The content type and extension of a file from its first bytes, or None when not allowed."""
    for magic, content_type, extension in KINDS:
        if head.startswith(magic):
            return content_type, extension
    return None


def clean_filename(name: str, extension: str) -> str:
    """A display name safe in a header and on any disk: plain characters, the checked extension."""
    stem = _UNSAFE.sub("_", Path(name.replace("\\", "/")).name).strip(" .")[:100] or "attachment"
    stem = re.sub(r"\.(jpe?g|png|pdf)$", "", stem, flags=re.IGNORECASE) or "attachment"
    return stem + extension


async def save_upload(
    upload: UploadFile, folder: Path, limit: int = MAX_ATTACHMENT_BYTES
) -> dict[str, object]:
    """Check and store an uploaded file; returns what the store keeps about it (ValueError: refused)."""
    head = await upload.read(16)
    kind = sniff(head)
    if kind is None:
        raise ValueError("only photos (JPEG, PNG) and PDF documents can be attached")
    content_type, extension = kind
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    stored_name = secrets.token_hex(16) + extension
    path = folder / stored_name
    digest = hashlib.sha256(head)
    size = len(head)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(head)
            while chunk := await upload.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise ValueError(f"the file is over {limit // (1024 * 1024)} MB")
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return {
        "filename": clean_filename(upload.filename or "", extension),
        "content_type": content_type,
        "size": size,
        "sha256": digest.hexdigest(),
        "stored_name": stored_name,
    }
