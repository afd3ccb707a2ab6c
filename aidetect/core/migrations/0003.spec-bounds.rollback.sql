ALTER TABLE tasks
    DROP CONSTRAINT tasks_active_deadline_seconds_bounds,
    DROP CONSTRAINT tasks_ttl_seconds_after_finished_bounds;
