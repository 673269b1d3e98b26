-- How many times the worker has started the job's next file (`attempt_file`, an index into the
-- upload): a file that keeps stopping the process is failed instead of retried at every start.
ALTER TABLE jobs ADD COLUMN attempt_file INTEGER NOT NULL DEFAULT -1;
ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
