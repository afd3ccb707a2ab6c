-- The result cache: a text already scored by the same profile and model version is not scored
-- again. Only raw scores are kept; labels and probabilities are derived from the profile's
-- current threshold and calibration when the entry is used.
-- depends: 0001.initial-schema

CREATE TABLE result_cache (
    text_sha256 text NOT NULL,
    detector text NOT NULL,
    model_version text NOT NULL,
    granularity text NOT NULL CHECK (granularity IN ('document', 'sentence')),
    score double precision NOT NULL,
    chunks integer NOT NULL,
    sentences jsonb,                -- [{start, end, score}] for sentence granularity
    created_at timestamptz NOT NULL DEFAULT now(),
    hits integer NOT NULL DEFAULT 0,
    last_hit_at timestamptz,
    PRIMARY KEY (text_sha256, detector, model_version, granularity)
);
