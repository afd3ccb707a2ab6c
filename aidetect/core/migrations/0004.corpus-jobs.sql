-- Corpus jobs: a task whose texts are streamed from object storage into its items, and whose
-- results are written back as JSONL. A task row keeps the source and output (never the
-- credentials: the Secret's name), how far the splitting got, and where the results went.
-- depends: 0003.spec-bounds

ALTER TABLE tasks
    ADD COLUMN max_failed_items bigint CHECK (max_failed_items >= 0),
    ADD COLUMN source jsonb,                  -- spec.source; NULL for texts from the CR
    ADD COLUMN output jsonb,                  -- spec.output
    ADD COLUMN split_cursor jsonb,            -- {key, offset, index, line}: where splitting resumes
    ADD COLUMN split_done boolean NOT NULL DEFAULT true,
    ADD COLUMN output_location text,          -- s3://bucket/key, once the results are written
    ADD COLUMN output_lines bigint;
-- The item's id in its source (the idField, or key:line); NULL for texts from the CR.
ALTER TABLE task_items ADD COLUMN source_id text;
-- The operator's query for corpus jobs whose items are all done but whose output is not written.
CREATE INDEX tasks_output_due_idx ON tasks (id)
    WHERE output IS NOT NULL AND output_location IS NULL AND phase = 'Running';
CREATE INDEX tasks_splitting_idx ON tasks (id) WHERE NOT split_done AND phase = 'Pending';
