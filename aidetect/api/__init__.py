"""The REST facade: creates DetectionTask CRs and reads results from the database."""
