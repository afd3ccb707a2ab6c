# A stand-in for the official postgres image, built on aidetect's local Debian base from Debian's
# postgresql-15 package (hack/build-images.sh). Only `make cluster-up` uses it, because the local
# node has no registry; the chart's default stays the official image. It keeps the official
# image's contract that the chart relies on: uid/gid 999, POSTGRES_USER / POSTGRES_PASSWORD /
# POSTGRES_DB / PGDATA, a socket in /var/run/postgresql, and pg_isready on PATH.
ARG BASE_IMAGE=localhost/aidetect-base:bookworm
# hadolint ignore=DL3006
FROM ${BASE_IMAGE}
ARG DEBIAN_FRONTEND=noninteractive
# The user first, so that the package adopts uid 999; no cluster is created at install time.
# hadolint ignore=DL3008
RUN groupadd --system --gid 999 postgres \
 && useradd --system --uid 999 --gid 999 --home-dir /var/lib/postgresql --shell /bin/bash postgres \
 && mkdir -p /etc/postgresql-common/createcluster.d \
 && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/no-main-cluster.conf \
 && apt-get update \
 && apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
 && chown -R 999:999 /var/lib/postgresql /var/run/postgresql
ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
USER 999:999
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]
