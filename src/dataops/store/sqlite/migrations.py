"""Numbered schema migrations, applied in order and recorded in PRAGMA user_version.
Append new steps; never edit a released one."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from dataops.store.sqlite import search

Migration = str | Callable[[sqlite3.Connection], None]
"""SQL statements separated by `;`, or a function run in the migrating transaction."""

MIGRATIONS: list[Migration] = [
    # 1: every entity table, with an index for each list filter and proof lookup.
    """
    CREATE TABLE users (id TEXT PRIMARY KEY, version INTEGER NOT NULL, data TEXT NOT NULL,
        email TEXT NOT NULL);
    CREATE UNIQUE INDEX users_email ON users (email);

    CREATE TABLE credentials (user_id TEXT PRIMARY KEY, version INTEGER NOT NULL,
        data TEXT NOT NULL);

    CREATE TABLE sessions (id TEXT PRIMARY KEY, version INTEGER NOT NULL, data TEXT NOT NULL,
        user_id TEXT NOT NULL);
    CREATE INDEX sessions_user ON sessions (user_id, id);

    CREATE TABLE templates (id TEXT PRIMARY KEY, version INTEGER NOT NULL, data TEXT NOT NULL);

    CREATE TABLE bundles (id TEXT PRIMARY KEY, version INTEGER NOT NULL, data TEXT NOT NULL,
        status TEXT, template_id TEXT);
    CREATE INDEX bundles_status ON bundles (status, id);
    CREATE INDEX bundles_template ON bundles (template_id, id);

    CREATE TABLE tasks (id TEXT PRIMARY KEY, version INTEGER NOT NULL, data TEXT NOT NULL,
        bundle_id TEXT, status TEXT, date TEXT NOT NULL, assignee_id TEXT);
    CREATE INDEX tasks_order ON tasks (date, id);
    CREATE INDEX tasks_bundle ON tasks (bundle_id, date, id);
    CREATE INDEX tasks_status ON tasks (status, date, id);
    CREATE INDEX tasks_assignee ON tasks (assignee_id, date, id);

    CREATE TABLE files (id TEXT PRIMARY KEY, version INTEGER NOT NULL, data TEXT NOT NULL,
        task_id TEXT, bundle_id TEXT);
    CREATE INDEX files_task ON files (task_id, id);
    CREATE INDEX files_bundle ON files (bundle_id, id);

    CREATE TABLE artifacts (id TEXT PRIMARY KEY, version INTEGER NOT NULL, data TEXT NOT NULL,
        task_id TEXT, bundle_id TEXT, assistant_job_id TEXT, file_id TEXT,
        status TEXT NOT NULL, type TEXT NOT NULL);
    CREATE INDEX artifacts_task ON artifacts (task_id, id);
    CREATE INDEX artifacts_task_status ON artifacts (task_id, status, type, id);
    CREATE INDEX artifacts_bundle ON artifacts (bundle_id, id);
    CREATE INDEX artifacts_bundle_status ON artifacts (bundle_id, status, type, id);
    CREATE INDEX artifacts_job ON artifacts (assistant_job_id, id);
    CREATE INDEX artifacts_file ON artifacts (file_id, id);
    CREATE INDEX artifacts_status ON artifacts (status, id);
    CREATE INDEX artifacts_type ON artifacts (type, id);

    CREATE TABLE audit_events (id TEXT PRIMARY KEY, version INTEGER NOT NULL,
        data TEXT NOT NULL, entity_type TEXT NOT NULL, entity_id TEXT NOT NULL);
    CREATE INDEX audit_entity ON audit_events (entity_type, entity_id, id);

    CREATE TABLE notifications (id TEXT PRIMARY KEY, version INTEGER NOT NULL,
        data TEXT NOT NULL, user_id TEXT, task_id TEXT);
    CREATE INDEX notifications_user ON notifications (user_id, id);
    CREATE INDEX notifications_task ON notifications (task_id, id);
    """,
    # 2: API tokens, found by the hash of the presented secret.
    """
    CREATE TABLE api_tokens (id TEXT PRIMARY KEY, version INTEGER NOT NULL, data TEXT NOT NULL,
        user_id TEXT NOT NULL, token_hash TEXT NOT NULL);
    CREATE UNIQUE INDEX api_tokens_hash ON api_tokens (token_hash);
    CREATE INDEX api_tokens_user ON api_tokens (user_id, id);
    """,
    # 3: indexes whose equality columns are followed by the list order (id), so proof
    # lookups and status lists never walk a wider index than the filter needs.
    """
    CREATE INDEX artifacts_task_approved ON artifacts (task_id, status, id);
    CREATE INDEX artifacts_bundle_approved ON artifacts (bundle_id, status, id);
    CREATE INDEX artifacts_status_type ON artifacts (status, type, id);
    """,
    # 4: first results of requests sent with an Idempotency-Key.
    """
    CREATE TABLE idempotency (id TEXT PRIMARY KEY, version INTEGER NOT NULL,
        data TEXT NOT NULL);
    """,
    # 5: two-step uploads; stale pending ones are found by (status, expires_at).
    """
    CREATE TABLE uploads (id TEXT PRIMARY KEY, version INTEGER NOT NULL, data TEXT NOT NULL,
        status TEXT NOT NULL, expires_at TEXT NOT NULL);
    CREATE INDEX uploads_stale ON uploads (status, expires_at, id);
    """,
    # 6: sessions and idempotency records carry their expiry in a column, so expired ones
    # are found by index and deleted (`purge_expired`); existing rows take it from data.
    """
    ALTER TABLE sessions ADD COLUMN expires_at TEXT;
    UPDATE sessions SET expires_at = json_extract(data, '$.expiresAt');
    CREATE INDEX sessions_expiry ON sessions (expires_at, id);
    ALTER TABLE idempotency ADD COLUMN expires_at TEXT;
    UPDATE idempotency SET expires_at = json_extract(data, '$.expiresAt');
    CREATE INDEX idempotency_expiry ON idempotency (expires_at, id);
    """,
    # 7: failed logins per account and per address, shared by every portal process.
    """
    CREATE TABLE login_throttles (id TEXT PRIMARY KEY, version INTEGER NOT NULL,
        data TEXT NOT NULL, expires_at TEXT);
    CREATE INDEX login_throttles_expiry ON login_throttles (expires_at, id);
    """,
    # 8: which file records and artifacts name a stored object, found by index (the blob
    # sweeper asks it of every local-dev blob); existing rows take it from data (a file's
    # location as `FileRecord.location` computes it: its storageUri, or a legacy
    # storagePath as local-dev://).
    """
    ALTER TABLE files ADD COLUMN location TEXT;
    UPDATE files SET location = COALESCE(NULLIF(json_extract(data, '$.storageUri'), ''),
        'local-dev://' || ltrim(replace(NULLIF(json_extract(data, '$.storagePath'), ''),
        char(92), '/'), '/'));
    CREATE INDEX files_location ON files (location, id);
    ALTER TABLE artifacts ADD COLUMN storage_uri TEXT;
    UPDATE artifacts SET storage_uri = json_extract(data, '$.storageUri');
    CREATE INDEX artifacts_storage_uri ON artifacts (storage_uri, id);
    """,
    # 9: review integrity (issue 16): workspace settings; done tasks whose proof was
    # withdrawn, and when their evidence expires, found by index; artifacts by the date
    # their evidence expires. No stored record holds these fields yet.
    """
    CREATE TABLE settings (id TEXT PRIMARY KEY, version INTEGER NOT NULL, data TEXT NOT NULL);
    ALTER TABLE tasks ADD COLUMN withdrawn_key TEXT;
    ALTER TABLE tasks ADD COLUMN proof_expires_on TEXT;
    CREATE INDEX tasks_withdrawn ON tasks (withdrawn_key, date, id)
        WHERE withdrawn_key IS NOT NULL;
    CREATE INDEX tasks_proof_expiry ON tasks (proof_expires_on, date, id)
        WHERE proof_expires_on IS NOT NULL;
    ALTER TABLE artifacts ADD COLUMN valid_until TEXT;
    CREATE INDEX artifacts_valid_until ON artifacts (valid_until, id)
        WHERE valid_until IS NOT NULL;
    """,
    # 10: recurring work (issue 17): recurring configs; bundles made by one carry the
    # occurrence they are, unique per (config, anchor date): the claim that makes each
    # occurrence exactly one bundle. No stored bundle has one yet.
    """
    CREATE TABLE recurring_configs (id TEXT PRIMARY KEY, version INTEGER NOT NULL,
        data TEXT NOT NULL, template_id TEXT, enabled_key TEXT, listed_key TEXT);
    CREATE INDEX recurring_configs_template ON recurring_configs (template_id, id);
    CREATE INDEX recurring_configs_listed ON recurring_configs (listed_key, id)
        WHERE listed_key IS NOT NULL;
    CREATE INDEX recurring_configs_enabled ON recurring_configs (enabled_key, id)
        WHERE enabled_key IS NOT NULL;
    ALTER TABLE bundles ADD COLUMN recurring_config_id TEXT;
    ALTER TABLE bundles ADD COLUMN occurrence_key TEXT;
    CREATE INDEX bundles_recurring_config ON bundles (recurring_config_id, id)
        WHERE recurring_config_id IS NOT NULL;
    CREATE UNIQUE INDEX bundles_occurrence ON bundles (occurrence_key)
        WHERE occurrence_key IS NOT NULL;
    """,
    # 11: notifications that fire (issue 17): unread ones per user found by index; at
    # most one per (type, subject, recipient, day), the dedupe key unique (notifications
    # made before it have none); users by role (the operators a notification falls back
    # to, the reviewers of an artifact). Existing rows take the new columns from data.
    """
    ALTER TABLE notifications ADD COLUMN unread_key TEXT;
    ALTER TABLE notifications ADD COLUMN dedupe_key TEXT;
    UPDATE notifications SET unread_key = 'true'
        WHERE json_extract(data, '$.readAt') IS NULL
        AND coalesce(json_extract(data, '$.dismissed'), 0) = 0;
    CREATE INDEX notifications_unread ON notifications (user_id, unread_key, id)
        WHERE unread_key IS NOT NULL;
    CREATE UNIQUE INDEX notifications_dedupe ON notifications (dedupe_key)
        WHERE dedupe_key IS NOT NULL;
    ALTER TABLE users ADD COLUMN role TEXT;
    UPDATE users SET role = json_extract(data, '$.role');
    CREATE INDEX users_role ON users (role, id);
    """,
    # 12: "my work" (issue 17), each list through an index of its own: open tasks by
    # assignee (`open_key`: todo or waiting), withdrawn proofs by who completed the task,
    # artifacts by creator and status; existing rows take the columns from data.
    """
    ALTER TABLE tasks ADD COLUMN open_key TEXT;
    ALTER TABLE tasks ADD COLUMN completed_by TEXT;
    UPDATE tasks SET completed_by = json_extract(data, '$.completedBy'),
        open_key = CASE WHEN status IN ('todo', 'waiting') THEN 'true' END;
    CREATE INDEX tasks_assignee_open ON tasks (assignee_id, open_key, date, id)
        WHERE open_key IS NOT NULL;
    CREATE INDEX tasks_completer_withdrawn ON tasks (completed_by, withdrawn_key, date, id)
        WHERE withdrawn_key IS NOT NULL;
    ALTER TABLE artifacts ADD COLUMN created_by TEXT;
    UPDATE artifacts SET created_by = json_extract(data, '$.createdBy');
    CREATE INDEX artifacts_creator_status ON artifacts (created_by, status, id)
        WHERE created_by IS NOT NULL;
    """,
    # 13: webhooks and the outbox (issue 18). Enabled endpoints by a sparse index (what
    # an event producer reads); outbox messages still to deliver by (due_key,
    # next_attempt_at) — the dispatcher's due list — and each endpoint's log by target.
    """
    CREATE TABLE webhooks (id TEXT PRIMARY KEY, version INTEGER NOT NULL,
        data TEXT NOT NULL, enabled_key TEXT, listed_key TEXT);
    CREATE INDEX webhooks_enabled ON webhooks (enabled_key, id) WHERE enabled_key IS NOT NULL;
    CREATE INDEX webhooks_listed ON webhooks (listed_key, id) WHERE listed_key IS NOT NULL;
    CREATE TABLE outbox (id TEXT PRIMARY KEY, version INTEGER NOT NULL,
        data TEXT NOT NULL, target_id TEXT NOT NULL, due_key TEXT,
        next_attempt_at TEXT NOT NULL);
    CREATE INDEX outbox_due ON outbox (due_key, next_attempt_at, id)
        WHERE due_key IS NOT NULL;
    CREATE INDEX outbox_target ON outbox (target_id, next_attempt_at, id);
    """,
    # 14: e-mail (issue 18): users who chose the daily digest by a sparse index (what
    # the scheduler's digest pass reads).
    """
    ALTER TABLE users ADD COLUMN digest_key TEXT;
    UPDATE users SET digest_key = CASE
        WHEN json_extract(data, '$.emailNotifications') = 'daily' THEN 'daily' END;
    CREATE INDEX users_digest ON users (digest_key, id) WHERE digest_key IS NOT NULL;
    """,
    # 15: search (issue 19): the words of each task, bundle and artifact
    # (`domain.search.record_words`) in an FTS5 table, one row per record, its rowid the
    # record's (kind, id) entry in search_refs; the repositories keep it in step in the
    # writing transaction. Existing records are indexed by migration 16.
    """
    CREATE TABLE search_refs (ref INTEGER PRIMARY KEY, kind TEXT NOT NULL, id TEXT NOT NULL);
    CREATE UNIQUE INDEX search_refs_record ON search_refs (kind, id);
    CREATE VIRTUAL TABLE search_words USING fts5(words, tokenize = 'unicode61 remove_diacritics 0');
    """,
    # 16: index the records stored before search existed.
    search.backfill,
    # 17: Home's task lanes (issue 19): the workspace's open tasks in date order, so "due
    # today", "overdue", "due soon" and the blocked lane's candidates are range reads
    # and counts of one index.
    """
    CREATE INDEX tasks_open ON tasks (open_key, date, id) WHERE open_key IS NOT NULL;
    """,
    # 18: the "Evidence expiring" lane (issue 19): artifacts by (valid_until, status), so
    # each day's approved evidence is a seek and an index count, however many artifacts of
    # other statuses expire that day; it replaces `artifacts_valid_until` (its prefix).
    """
    CREATE INDEX artifacts_valid_until_status ON artifacts (valid_until, status, id)
        WHERE valid_until IS NOT NULL;
    DROP INDEX artifacts_valid_until;
    """,
    # 19: the Blocked lane (issue 19): the todo tasks whose proof is not complete
    # (`blocked_key`, from the stored `proofBlocked`) in date order, so the lane is a range
    # read and its count a count of one index. The tasks stored before it are judged by
    # the proof rule once, by the service pass `proofs.index_blocked` (on both stores).
    """
    ALTER TABLE tasks ADD COLUMN blocked_key TEXT;
    CREATE INDEX tasks_blocked ON tasks (blocked_key, date, id) WHERE blocked_key IS NOT NULL;
    """,
]
