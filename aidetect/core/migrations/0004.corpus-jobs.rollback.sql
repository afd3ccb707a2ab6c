DROP INDEX tasks_splitting_idx;
DROP INDEX tasks_output_due_idx;
ALTER TABLE task_items DROP COLUMN source_id;
ALTER TABLE tasks
    DROP COLUMN output_lines,
    DROP COLUMN output_location,
    DROP COLUMN split_done,
    DROP COLUMN split_cursor,
    DROP COLUMN output,
    DROP COLUMN source,
    DROP COLUMN max_failed_items;
