DROP TABLE worker_heartbeats;
DROP TABLE task_transitions;
DROP TABLE task_items;
DROP TABLE tasks;
