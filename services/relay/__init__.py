"""The relay: moves outbox rows to RabbitMQ with publisher confirms."""
