"""What a visitor can still do when no channel is open: ask for a call back, or leave a message.

Both are validated, stored in the archive (table ``fallbacks``, migration 3), listed in
the agent console, and marked handled there.
"""

from __future__ import annotations

import re
import time
from typing import Annotated, Any, Literal

import msgspec

from signaling.archive import Archive
from signaling.errors import ProtocolError

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Contact = Annotated[str, msgspec.Meta(min_length=3, max_length=200)]
Page = Annotated[str, msgspec.Meta(max_length=2048)]


class CallbackRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: Name
    contact: Contact
    preferred_time: Annotated[str, msgspec.Meta(max_length=100)] = ""
    note: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    page: Page = ""


class LeftMessage(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: Name
    contact: Contact
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]
    page: Page = ""


_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_PHONE = re.compile(r"^\+?[0-9 ().-]{6,30}$")


def check(record: CallbackRequest | LeftMessage) -> None:
    """Field rules a type cannot say; ProtocolError('bad_message') with the field's name."""
    if not record.name.strip():
        raise ProtocolError("bad_message", "name: please give a name")
    contact = record.contact.strip()
    digits = sum(c.isdigit() for c in contact)
    if not (_EMAIL.match(contact) or (_PHONE.match(contact) and 6 <= digits <= 20)):
        raise ProtocolError("bad_message", "contact: give a phone number or an e-mail address")
    if isinstance(record, LeftMessage) and not record.text.strip():
        raise ProtocolError("bad_message", "text: the message is empty")


async def store(
    archive: Archive,
    kind: Literal["callback", "message"],
    entry: str,
    record: CallbackRequest | LeftMessage,
) -> int:
    """Write it now (the visitor waits for the confirmation) and return its id."""
    text = record.note if isinstance(record, CallbackRequest) else record.text
    preferred = record.preferred_time if isinstance(record, CallbackRequest) else ""
    row = (
        kind,
        entry,
        record.name.strip(),
        record.contact.strip(),
        preferred.strip(),
        text.strip(),
        record.page,
        time.time(),
    )

    inserted = await archive.fetchone(
        "INSERT INTO fallbacks (kind, entry, name, contact, preferred_time, text, page,"
        " created_at) VALUES (?,?,?,?,?,?,?,?) RETURNING id",
        row,
    )
    return int(inserted[0]) if inserted else 0


_ITEM_COLS = (
    "id",
    "kind",
    "entry",
    "name",
    "contact",
    "preferred_time",
    "text",
    "page",
    "created_at",
    "handled_at",
    "handled_by",
)


async def open_items(archive: Archive, *, limit: int = 200) -> list[dict[str, Any]]:
    rows = await archive.fetch(
        f"SELECT {', '.join(_ITEM_COLS)} FROM fallbacks WHERE handled_at IS NULL"  # noqa: S608
        " ORDER BY created_at DESC LIMIT ?",
        (limit,),
    )
    return [dict(zip(_ITEM_COLS, r, strict=True)) for r in rows]


async def mark_handled(archive: Archive, item_id: int, by: str) -> bool:
    changed = await archive.execute(
        "UPDATE fallbacks SET handled_at=?, handled_by=? WHERE id=? AND handled_at IS NULL",
        (time.time(), by, item_id),
    )
    return changed == 1
