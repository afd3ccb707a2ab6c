-- Upper bounds on activeDeadlineSeconds (30 days) and ttlSecondsAfterFinished (365 days), as the
-- CRD and the API have them (core.models). Rows recorded before the bounds are clamped first, so
-- the constraints hold for every row; a value such as 1e13 had overflowed the resync's intervals.
-- depends: 0002.result-cache

UPDATE tasks SET active_deadline_seconds = 2592000 WHERE active_deadline_seconds > 2592000;
UPDATE tasks SET ttl_seconds_after_finished = 31536000 WHERE ttl_seconds_after_finished > 31536000;
ALTER TABLE tasks
    ADD CONSTRAINT tasks_active_deadline_seconds_bounds
        CHECK (active_deadline_seconds BETWEEN 1 AND 2592000),
    ADD CONSTRAINT tasks_ttl_seconds_after_finished_bounds
        CHECK (ttl_seconds_after_finished BETWEEN 0 AND 31536000);
