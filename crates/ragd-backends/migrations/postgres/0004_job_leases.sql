-- Jobs across instances: a worker claims a job with a lease it renews while it runs; a job whose
-- instance died is claimed again by another once the lease has expired. Staged uploads live in
-- the database, so every instance reaches them (removed when the job ends).
ALTER TABLE jobs
    ADD COLUMN lease_owner TEXT,
    ADD COLUMN lease_until TIMESTAMPTZ,
    ADD COLUMN manifest    TEXT;

CREATE TABLE job_files (
    job_id  TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx     INTEGER NOT NULL,
    content BYTEA   NOT NULL,
    PRIMARY KEY (job_id, idx)
);
