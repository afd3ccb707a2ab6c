"""Postgres and RabbitMQ, started by hack/, answer real connections from psycopg2 and pika."""

from __future__ import annotations

import uuid

import pika
import psycopg2


def test_postgres_answers_psycopg2(database_url: str) -> None:
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("select current_database(), version()")
        db, version = cur.fetchone()
    conn.close()
    assert db == "aidetect"
    assert version.startswith("PostgreSQL")


def test_postgres_listens_on_loopback_only(database_url: str) -> None:
    assert "@127.0.0.1:" in database_url


def test_rabbitmq_takes_a_confirmed_persistent_message_on_a_quorum_queue(amqp_url: str) -> None:
    queue = f"test-{uuid.uuid4().hex[:8]}"
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        ch = conn.channel()
        ch.confirm_delivery()
        ch.queue_declare(
            queue, durable=True, arguments={"x-queue-type": "quorum", "x-delivery-limit": 2}
        )
        ch.basic_publish("", queue, b"hello", pika.BasicProperties(delivery_mode=2), mandatory=True)
        method, _props, body = ch.basic_get(queue, auto_ack=True)
        assert method is not None
        assert body == b"hello"
        ch.queue_delete(queue)
    finally:
        conn.close()
