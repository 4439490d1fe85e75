"""Forward-only schema migrations. Each entry upgrades the schema by one version (PRAGMA user_version).

Never edit a released migration: append a new one. The store refuses a database newer than this list.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: records, names, photos, ingests, append-only audit.
    """
    CREATE TABLE residents (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        external_id TEXT NOT NULL,
        gender TEXT CHECK (gender IN ('M', 'F')),
        gender_raw TEXT,
        age_min INTEGER,
        age_max INTEGER,
        age_raw TEXT,
        height_cm REAL,
        height_raw TEXT,
        accent TEXT,
        place_clues TEXT,
        found_place TEXT,
        found_date TEXT,
        found_date_raw TEXT,
        features TEXT,
        notes TEXT,
        status TEXT NOT NULL DEFAULT 'in_care'
            CHECK (status IN ('in_care', 'returned', 'transferred', 'deceased')),
        extras TEXT,
        row_hash TEXT NOT NULL,
        needs_index INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (source, external_id)
    );

    CREATE TABLE missing_persons (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        external_id TEXT NOT NULL,
        kind TEXT NOT NULL DEFAULT 'missing' CHECK (kind IN ('missing', 'returned', 'at_risk')),
        gender TEXT CHECK (gender IN ('M', 'F')),
        gender_raw TEXT,
        birth_date TEXT,
        birth_date_raw TEXT,
        birth_year INTEGER,
        id_number TEXT,
        id_region TEXT,
        height_cm REAL,
        height_raw TEXT,
        hometown TEXT,
        dialect TEXT,
        missing_date TEXT,
        missing_date_raw TEXT,
        missing_place TEXT,
        features TEXT,
        contact_name TEXT,
        contact_phone TEXT,
        notes TEXT,
        status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'found', 'closed')),
        from_resident_id INTEGER REFERENCES residents(id) ON DELETE SET NULL,
        extras TEXT,
        row_hash TEXT NOT NULL,
        needs_index INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (source, external_id)
    );
    CREATE INDEX missing_kind_status ON missing_persons (kind, status);

    CREATE TABLE names (
        id INTEGER PRIMARY KEY,
        resident_id INTEGER REFERENCES residents(id) ON DELETE CASCADE,
        missing_id INTEGER REFERENCES missing_persons(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        raw TEXT NOT NULL,
        name_type TEXT NOT NULL CHECK (name_type IN ('heard', 'name', 'former', 'nickname', 'alias')),
        CHECK ((resident_id IS NULL) <> (missing_id IS NULL))
    );
    CREATE INDEX names_resident ON names (resident_id);
    CREATE INDEX names_missing ON names (missing_id);
    CREATE INDEX names_name ON names (name);

    CREATE TABLE photos (
        id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: index entries are photo ids
        resident_id INTEGER REFERENCES residents(id) ON DELETE CASCADE,
        missing_id INTEGER REFERENCES missing_persons(id) ON DELETE CASCADE,
        sha256 TEXT NOT NULL,
        stored_path TEXT NOT NULL,
        original_path TEXT NOT NULL,
        taken_year INTEGER,
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'encoded', 'no_face', 'failed')),
        error TEXT,
        created_at TEXT NOT NULL,
        CHECK ((resident_id IS NULL) <> (missing_id IS NULL)),
        UNIQUE (resident_id, sha256),
        UNIQUE (missing_id, sha256)
    );
    CREATE INDEX photos_sha ON photos (sha256);
    CREATE INDEX photos_status ON photos (status);

    CREATE TABLE ingests (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        source TEXT NOT NULL,
        file TEXT NOT NULL,
        file_sha256 TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        n_rows INTEGER NOT NULL,
        n_new INTEGER NOT NULL,
        n_updated INTEGER NOT NULL,
        n_unchanged INTEGER NOT NULL,
        n_rejected INTEGER NOT NULL,
        n_photos INTEGER NOT NULL,
        rejects_path TEXT
    );

    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        subject TEXT,
        detail TEXT
    );
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
    """,
    # 2: face encodings cached by (photo sha256, settings); index build history.
    """
    CREATE TABLE faces (
        id INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL,
        settings TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('encoded', 'no_face', 'failed')),
        error TEXT,
        n_faces INTEGER NOT NULL DEFAULT 0,
        box_top INTEGER, box_right INTEGER, box_bottom INTEGER, box_left INTEGER,
        face_px INTEGER,
        blur REAL,
        review INTEGER NOT NULL DEFAULT 0,
        encoding BLOB,
        created_at TEXT NOT NULL,
        UNIQUE (sha256, settings)
    );

    CREATE TABLE index_builds (
        id INTEGER PRIMARY KEY,
        version TEXT NOT NULL UNIQUE,
        mode TEXT NOT NULL CHECK (mode IN ('full', 'incremental')),
        settings TEXT NOT NULL,
        n_missing INTEGER NOT NULL,
        n_residents INTEGER NOT NULL,
        added INTEGER NOT NULL,
        removed INTEGER NOT NULL,
        seconds REAL NOT NULL,
        created_at TEXT NOT NULL
    );

    -- What an incremental index build reads: changes since the previous build, found through indexes.
    CREATE TABLE photo_deletions (photo_id INTEGER NOT NULL, deleted_at TEXT NOT NULL);
    CREATE INDEX photo_deletions_at ON photo_deletions (deleted_at);
    CREATE TRIGGER photos_deleted AFTER DELETE ON photos BEGIN
        INSERT INTO photo_deletions (photo_id, deleted_at) VALUES (OLD.id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
    END;
    CREATE INDEX photos_created ON photos (created_at);
    CREATE INDEX faces_created ON faces (created_at);
    CREATE INDEX residents_updated ON residents (updated_at);
    CREATE INDEX missing_updated ON missing_persons (updated_at);
    CREATE TRIGGER residents_status_stamp AFTER UPDATE OF status ON residents BEGIN
        UPDATE residents SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.id;
    END;
    CREATE TRIGGER missing_status_stamp AFTER UPDATE OF status ON missing_persons BEGIN
        UPDATE missing_persons SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.id;
    END;
    """,
    # 3: text keys, computed once per name and per record place, compared without re-parsing.
    """
    CREATE TABLE name_keys (
        name_id INTEGER PRIMARY KEY REFERENCES names(id) ON DELETE CASCADE,
        surname TEXT NOT NULL,
        given TEXT NOT NULL,
        nickname INTEGER NOT NULL,
        core TEXT NOT NULL,
        pinyin TEXT NOT NULL,
        fold_key TEXT NOT NULL,
        surname_key TEXT NOT NULL,
        given_key TEXT NOT NULL,
        last_key TEXT NOT NULL,
        whole_key TEXT NOT NULL
    );
    CREATE INDEX name_keys_fold ON name_keys (fold_key);
    CREATE INDEX name_keys_surname ON name_keys (surname_key);
    CREATE INDEX name_keys_given ON name_keys (given_key);

    CREATE TABLE place_keys (
        id INTEGER PRIMARY KEY,
        resident_id INTEGER REFERENCES residents(id) ON DELETE CASCADE,
        missing_id INTEGER REFERENCES missing_persons(id) ON DELETE CASCADE,
        field TEXT NOT NULL,
        rank INTEGER NOT NULL,
        code TEXT NOT NULL,
        level INTEGER NOT NULL,
        how TEXT NOT NULL,
        confidence REAL NOT NULL,
        CHECK ((resident_id IS NULL) <> (missing_id IS NULL))
    );
    CREATE INDEX place_keys_resident ON place_keys (resident_id);
    CREATE INDEX place_keys_missing ON place_keys (missing_id);
    CREATE INDEX place_keys_code ON place_keys (code);
    """,
    # 4: match jobs, their ranked candidates with per-term weights, review decisions, nightly alerts.
    """
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        mode TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
        params_version TEXT NOT NULL,
        index_version TEXT,
        calibration_version TEXT NOT NULL,
        code_version TEXT NOT NULL,
        args TEXT NOT NULL,
        counts TEXT,
        timings TEXT
    );
    CREATE TABLE candidates (
        id INTEGER PRIMARY KEY,
        job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        resident_id INTEGER NOT NULL REFERENCES residents(id) ON DELETE CASCADE,
        missing_id INTEGER NOT NULL REFERENCES missing_persons(id) ON DELETE CASCADE,
        direction TEXT NOT NULL CHECK (direction IN ('resident', 'missing')),
        rank INTEGER NOT NULL,
        weight REAL NOT NULL,
        probability REAL NOT NULL,
        registry INTEGER NOT NULL DEFAULT 0,
        sources TEXT NOT NULL,
        terms TEXT NOT NULL,
        UNIQUE (job_id, direction, resident_id, missing_id)
    );
    CREATE INDEX candidates_resident ON candidates (resident_id);
    CREATE INDEX candidates_missing ON candidates (missing_id);
    CREATE TABLE decisions (
        id INTEGER PRIMARY KEY,
        resident_id INTEGER NOT NULL REFERENCES residents(id) ON DELETE CASCADE,
        missing_id INTEGER NOT NULL REFERENCES missing_persons(id) ON DELETE CASCADE,
        decision TEXT NOT NULL CHECK (decision IN ('rejected', 'referred', 'confirmed', 'reunited')),
        note TEXT,
        by TEXT NOT NULL,
        at TEXT NOT NULL,
        job_id INTEGER REFERENCES jobs(id) ON DELETE SET NULL
    );
    CREATE INDEX decisions_pair ON decisions (resident_id, missing_id);
    CREATE TRIGGER decisions_no_update BEFORE UPDATE ON decisions
        BEGIN SELECT RAISE(ABORT, 'decisions are append-only history'); END;
    CREATE TABLE alerts (
        resident_id INTEGER NOT NULL REFERENCES residents(id) ON DELETE CASCADE,
        missing_id INTEGER NOT NULL REFERENCES missing_persons(id) ON DELETE CASCADE,
        job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        weight REAL NOT NULL,
        exported_to TEXT,
        at TEXT NOT NULL,
        PRIMARY KEY (resident_id, missing_id)
    );
    """,
    # 5: a candidate's probability may be absent: below the workspace size the probability was calibrated
    # at (scoring.CALIBRATED_MIN_RECORDS) only the weight is shown. SQLite cannot drop a NOT NULL in place.
    """
    CREATE TABLE candidates_v5 (
        id INTEGER PRIMARY KEY,
        job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        resident_id INTEGER NOT NULL REFERENCES residents(id) ON DELETE CASCADE,
        missing_id INTEGER NOT NULL REFERENCES missing_persons(id) ON DELETE CASCADE,
        direction TEXT NOT NULL CHECK (direction IN ('resident', 'missing')),
        rank INTEGER NOT NULL,
        weight REAL NOT NULL,
        probability REAL,
        registry INTEGER NOT NULL DEFAULT 0,
        sources TEXT NOT NULL,
        terms TEXT NOT NULL,
        UNIQUE (job_id, direction, resident_id, missing_id)
    );
    INSERT INTO candidates_v5 SELECT * FROM candidates;
    DROP TABLE candidates;
    ALTER TABLE candidates_v5 RENAME TO candidates;
    CREATE INDEX candidates_resident ON candidates (resident_id);
    CREATE INDEX candidates_missing ON candidates (missing_id);
    """,
    # 6: a purge committed in the database whose files and face index are not yet brought in line (purge.py).
    """
    CREATE TABLE purge_pending (
        id INTEGER PRIMARY KEY,
        people TEXT NOT NULL,
        shas TEXT NOT NULL,
        at TEXT NOT NULL
    );
    """,
    # 7: a resident's 户籍地 and ID number as columns (not extras); the shortlist (each record's current
    # candidates over all jobs: a pair at the latest job that covered
    # its record) and corrections of decisions (a `corrected` row names the decision it takes back).
    """
    CREATE TABLE shortlist (
        direction TEXT NOT NULL CHECK (direction IN ('resident', 'missing')),
        resident_id INTEGER NOT NULL REFERENCES residents(id) ON DELETE CASCADE,
        missing_id INTEGER NOT NULL REFERENCES missing_persons(id) ON DELETE CASCADE,
        candidate_id INTEGER NOT NULL REFERENCES candidates(id) ON DELETE CASCADE,
        PRIMARY KEY (direction, resident_id, missing_id)
    );
    CREATE INDEX shortlist_missing ON shortlist (missing_id);
    CREATE INDEX shortlist_candidate ON shortlist (candidate_id);
    INSERT INTO shortlist (direction, resident_id, missing_id, candidate_id)
        SELECT c.direction, c.resident_id, c.missing_id, c.id FROM candidates c
        WHERE c.job_id = (
            SELECT MAX(c2.job_id) FROM candidates c2 JOIN jobs j ON j.id = c2.job_id AND j.status = 'done'
            WHERE c2.direction = c.direction AND CASE c.direction WHEN 'resident'
                THEN c2.resident_id = c.resident_id ELSE c2.missing_id = c.missing_id END);
    DROP TRIGGER decisions_no_update;
    CREATE TABLE decisions_v7 (
        id INTEGER PRIMARY KEY,
        resident_id INTEGER NOT NULL REFERENCES residents(id) ON DELETE CASCADE,
        missing_id INTEGER NOT NULL REFERENCES missing_persons(id) ON DELETE CASCADE,
        decision TEXT NOT NULL
            CHECK (decision IN ('rejected', 'referred', 'confirmed', 'reunited', 'corrected')),
        note TEXT,
        by TEXT NOT NULL,
        at TEXT NOT NULL,
        job_id INTEGER REFERENCES jobs(id) ON DELETE SET NULL,
        corrects INTEGER,
        forced INTEGER NOT NULL DEFAULT 0
    );
    INSERT INTO decisions_v7 (id, resident_id, missing_id, decision, note, by, at, job_id)
        SELECT id, resident_id, missing_id, decision, note, by, at, job_id FROM decisions;
    DROP TABLE decisions;
    ALTER TABLE decisions_v7 RENAME TO decisions;
    CREATE INDEX decisions_pair ON decisions (resident_id, missing_id);
    CREATE TRIGGER decisions_no_update BEFORE UPDATE ON decisions
        BEGIN SELECT RAISE(ABORT, 'decisions are append-only history'); END;
    ALTER TABLE residents ADD COLUMN hometown TEXT;
    ALTER TABLE residents ADD COLUMN id_number TEXT;
    ALTER TABLE residents ADD COLUMN id_region TEXT;
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
