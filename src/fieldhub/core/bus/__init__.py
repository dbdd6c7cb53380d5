"""The event bus: a durable outbox of events, published only after their change committed."""
