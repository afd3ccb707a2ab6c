"""Unit tests of the REST facade, against in-memory fakes of the database and the apiserver."""
