# A stand-in for the official rabbitmq image, built on aidetect's local Debian base from Debian's
# rabbitmq-server package (3.10; the chart's default is the official 4.1 image). Only
# `make cluster-up` uses it, because the local node has no registry. It keeps the contract that
# the chart relies on: uid/gid 999, RABBITMQ_DEFAULT_USER / _PASS / _VHOST, the management
# plugin, and rabbitmq-diagnostics on PATH, with the Erlang cookie under HOME=/var/lib/rabbitmq.
ARG BASE_IMAGE=localhost/aidetect-base:bookworm
# hadolint ignore=DL3006
FROM ${BASE_IMAGE}
ARG DEBIAN_FRONTEND=noninteractive
# hadolint ignore=DL3008
RUN groupadd --system --gid 999 rabbitmq \
 && useradd --system --uid 999 --gid 999 --home-dir /var/lib/rabbitmq --shell /bin/bash rabbitmq \
 && apt-get update \
 && apt-get install -y --no-install-recommends rabbitmq-server \
 && rm -rf /var/lib/apt/lists/* \
 && rabbitmq-plugins enable --offline rabbitmq_management \
 && mkdir -p /var/lib/rabbitmq /etc/rabbitmq \
 && chown -R 999:999 /var/lib/rabbitmq /etc/rabbitmq
ENV HOME=/var/lib/rabbitmq \
    RABBITMQ_CONFIG_FILE=/etc/rabbitmq/rabbitmq.conf
COPY rabbitmq-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
USER 999:999
EXPOSE 5672 15672
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["rabbitmq-server"]
