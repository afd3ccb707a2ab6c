DROP TABLE result_cache;
