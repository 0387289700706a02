"""The event backbone every service shares: envelopes, topics, outbox, inbox, Kafka clients."""
