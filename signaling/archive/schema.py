"""The archive's schema, as numbered migrations for each backend.

Migration ``n`` means the same tables and columns in both. The SQLite scripts are the
source: PostgreSQL's are made from them by swapping types (``REAL`` becomes DOUBLE
PRECISION, ``INTEGER`` BIGINT, AUTOINCREMENT ids identity columns), except where the two
really differ: full-text search (FTS5 tables in SQLite; ``tsvector`` columns with GIN
indexes and a PL/pgSQL trigger in PostgreSQL), written out for each. A backend applies
the migrations it has not applied yet, in order, and records each in ``schema_version``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

SQLITE_MIGRATIONS: Sequence[str] = (
    # 1: users, interactions, events
    """
    CREATE TABLE users (
        username TEXT PRIMARY KEY,
        display_name TEXT NOT NULL,
        role TEXT NOT NULL,
        skills TEXT NOT NULL DEFAULT '[]',
        tiers TEXT NOT NULL DEFAULT '[]',
        capacity INTEGER NOT NULL DEFAULT 3,
        password_hash TEXT NOT NULL,
        created_at REAL NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE interactions (
        id TEXT PRIMARY KEY,
        entry TEXT NOT NULL,
        state TEXT NOT NULL,
        customer_id TEXT NOT NULL,
        customer_name TEXT NOT NULL,
        tier TEXT NOT NULL,
        page TEXT NOT NULL,
        skill TEXT NOT NULL,
        agent_id TEXT,
        created_at REAL NOT NULL,
        ended_at REAL,
        ended_reason TEXT NOT NULL DEFAULT '',
        disposition TEXT NOT NULL DEFAULT '',
        transfers INTEGER NOT NULL DEFAULT 0,
        last_seq INTEGER NOT NULL DEFAULT 0,
        record TEXT NOT NULL
    );
    CREATE INDEX interactions_created ON interactions(created_at);
    CREATE INDEX interactions_agent ON interactions(agent_id);
    CREATE TABLE events (
        session_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        actor_role TEXT NOT NULL,
        actor_id TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (session_id, seq)
    ) WITHOUT ROWID;
    """,
    # 2: audit log, personal links issued and used
    """
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        entry TEXT NOT NULL DEFAULT '',
        session_id TEXT NOT NULL DEFAULT '',
        actor TEXT NOT NULL DEFAULT '',
        reason TEXT NOT NULL DEFAULT '',
        detail TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX audit_kind_at ON audit(kind, at);
    CREATE INDEX audit_at ON audit(at);
    CREATE TABLE links (
        jti TEXT PRIMARY KEY,
        entry TEXT NOT NULL,
        sub TEXT NOT NULL,
        tier TEXT NOT NULL,
        case_id TEXT NOT NULL DEFAULT '',
        kid TEXT NOT NULL,
        issued_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        issued_by TEXT NOT NULL DEFAULT '',
        used_at REAL
    );
    CREATE INDEX links_issued_at ON links(issued_at);
    """,
    # 3: callback requests and messages left when no channel is open
    """
    CREATE TABLE fallbacks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        entry TEXT NOT NULL,
        name TEXT NOT NULL,
        contact TEXT NOT NULL,
        preferred_time TEXT NOT NULL DEFAULT '',
        text TEXT NOT NULL DEFAULT '',
        page TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        handled_at REAL,
        handled_by TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX fallbacks_open ON fallbacks(handled_at, created_at);
    """,
    # 4: recordings, their tracks, and background jobs (review rendering, transcription)
    """
    CREATE TABLE recordings (
        session_id TEXT PRIMARY KEY,
        entry TEXT NOT NULL,
        tier TEXT NOT NULL DEFAULT '',
        agent_id TEXT NOT NULL DEFAULT '',
        agent_name TEXT NOT NULL DEFAULT '',
        customer_name TEXT NOT NULL DEFAULT '',
        state TEXT NOT NULL,
        interrupted INTEGER NOT NULL DEFAULT 0,
        started_at REAL NOT NULL,
        ended_at REAL,
        duration_s REAL NOT NULL DEFAULT 0,
        paused_s REAL NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0,
        tracks INTEGER NOT NULL DEFAULT 0,
        dropped INTEGER NOT NULL DEFAULT 0,
        review_bytes INTEGER NOT NULL DEFAULT 0,
        review_duration_s REAL NOT NULL DEFAULT 0,
        render_error TEXT NOT NULL DEFAULT '',
        sealed INTEGER NOT NULL DEFAULT 0,
        retention_until REAL,
        expired_at REAL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX recordings_started ON recordings(started_at);
    CREATE INDEX recordings_state ON recordings(state);
    CREATE INDEX recordings_retention ON recordings(retention_until);
    CREATE TABLE recording_tracks (
        id TEXT PRIMARY KEY,
        session_id TEXT NOT NULL,
        side TEXT NOT NULL,
        name TEXT NOT NULL,
        source TEXT NOT NULL,
        kind TEXT NOT NULL,
        codec TEXT NOT NULL,
        file TEXT NOT NULL,
        state TEXT NOT NULL,
        opened_at REAL NOT NULL,
        frames INTEGER NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0,
        dropped INTEGER NOT NULL DEFAULT 0,
        first_ms INTEGER,
        last_ms INTEGER,
        sealed INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX recording_tracks_session ON recording_tracks(session_id);
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        session_id TEXT NOT NULL,
        state TEXT NOT NULL,
        progress REAL NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0,
        error TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        UNIQUE (kind, session_id)
    );
    CREATE INDEX jobs_state ON jobs(state, created_at);
    """,
    # 5: transcripts: full-text search over what was said, and phrase flags
    """
    CREATE VIRTUAL TABLE transcript_text USING fts5(
        text, session_id UNINDEXED, speaker UNINDEXED, start UNINDEXED,
        tokenize = 'unicode61'
    );
    CREATE TABLE transcript_flags (
        session_id TEXT NOT NULL,
        name TEXT NOT NULL,
        at REAL,
        speaker TEXT NOT NULL DEFAULT '',
        text TEXT NOT NULL DEFAULT '',
        missing INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX transcript_flags_session ON transcript_flags(session_id);
    CREATE INDEX transcript_flags_name ON transcript_flags(name);
    ALTER TABLE recordings ADD COLUMN review_start_s REAL NOT NULL DEFAULT 0;
    """,
    # 6: QA scores (one per reviewer and session) and comments pinned to a moment
    """
    CREATE TABLE scores (
        session_id TEXT NOT NULL,
        reviewer TEXT NOT NULL,
        answers TEXT NOT NULL,
        total REAL NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        updated_by TEXT NOT NULL,
        PRIMARY KEY (session_id, reviewer)
    );
    CREATE TABLE review_comments (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id TEXT NOT NULL,
        author TEXT NOT NULL,
        at REAL NOT NULL,
        text TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX review_comments_session ON review_comments(session_id, at);
    """,
    # 7: the customer's answer to the one-question survey at the end (CSAT, 1-5)
    """
    CREATE TABLE csat (
        session_id TEXT PRIMARY KEY,
        score INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
        at REAL NOT NULL
    );
    """,
    # 8: full-text search over chat, kept by a trigger as chat messages are archived
    """
    CREATE VIRTUAL TABLE chat_text USING fts5(
        text, session_id UNINDEXED, side UNINDEXED, at UNINDEXED, tokenize = 'unicode61'
    );
    CREATE TRIGGER events_chat_text AFTER INSERT ON events
    WHEN new.kind = 'chat.message' BEGIN
        INSERT INTO chat_text (text, session_id, side, at) VALUES (
            json_extract(new.data, '$.text'), new.session_id, new.actor_role,
            new.at - COALESCE(
                (SELECT created_at FROM interactions WHERE id = new.session_id), new.at)
        );
    END;
    INSERT INTO chat_text (text, session_id, side, at)
        SELECT json_extract(e.data, '$.text'), e.session_id, e.actor_role,
               e.at - i.created_at
        FROM events e JOIN interactions i ON i.id = e.session_id
        WHERE e.kind = 'chat.message';
    """,
    # 9: which worker runs a job (jobs are dispatched through the live store's job queue)
    """
    ALTER TABLE jobs ADD COLUMN worker TEXT NOT NULL DEFAULT '';
    """,
)

_POSTGRES_OWN: dict[int, str] = {
    # 5: transcripts: full-text search over what was said, and phrase flags
    5: """
        CREATE TABLE transcript_text (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            text TEXT NOT NULL,
            session_id TEXT NOT NULL,
            speaker TEXT NOT NULL,
            start DOUBLE PRECISION,
            tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED
        );
        CREATE INDEX transcript_text_tsv ON transcript_text USING GIN (tsv);
        CREATE INDEX transcript_text_session ON transcript_text(session_id);
        CREATE TABLE transcript_flags (
            session_id TEXT NOT NULL,
            name TEXT NOT NULL,
            at DOUBLE PRECISION,
            speaker TEXT NOT NULL DEFAULT '',
            text TEXT NOT NULL DEFAULT '',
            missing INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX transcript_flags_session ON transcript_flags(session_id);
        CREATE INDEX transcript_flags_name ON transcript_flags(name);
        ALTER TABLE recordings ADD COLUMN review_start_s DOUBLE PRECISION NOT NULL DEFAULT 0;
        """,
    # 8: full-text search over chat, kept by a trigger as chat messages are archived
    8: """
        CREATE TABLE chat_text (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            text TEXT NOT NULL,
            session_id TEXT NOT NULL,
            side TEXT NOT NULL,
            at DOUBLE PRECISION,
            tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED
        );
        CREATE INDEX chat_text_tsv ON chat_text USING GIN (tsv);
        CREATE INDEX chat_text_session ON chat_text(session_id);
        CREATE FUNCTION livedesk_chat_text() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO chat_text (text, session_id, side, at) VALUES (
                COALESCE(NEW.data::jsonb ->> 'text', ''), NEW.session_id, NEW.actor_role,
                NEW.at - COALESCE(
                    (SELECT created_at FROM interactions WHERE id = NEW.session_id), NEW.at));
            RETURN NULL;
        END $$;
        CREATE TRIGGER events_chat_text AFTER INSERT ON events FOR EACH ROW
            WHEN (NEW.kind = 'chat.message') EXECUTE FUNCTION livedesk_chat_text();
        INSERT INTO chat_text (text, session_id, side, at)
            SELECT COALESCE(e.data::jsonb ->> 'text', ''), e.session_id, e.actor_role,
                   e.at - i.created_at
            FROM events e JOIN interactions i ON i.id = e.session_id
            WHERE e.kind = 'chat.message';
        """,
}

_TYPES = (
    (
        re.compile(r"\bINTEGER PRIMARY KEY AUTOINCREMENT\b"),
        "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    ),
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    (re.compile(r"\)\s*WITHOUT ROWID"), ")"),
)


def postgres_script(sqlite_script: str) -> str:
    """A SQLite migration's DDL in PostgreSQL's types."""
    out = sqlite_script
    for pattern, replacement in _TYPES:
        out = pattern.sub(replacement, out)
    return out


POSTGRES_MIGRATIONS: Sequence[str] = tuple(
    _POSTGRES_OWN.get(version) or postgres_script(script)
    for version, script in enumerate(SQLITE_MIGRATIONS, start=1)
)
