"""One small module of request handlers per resource; ``wamc/api/routes/`` routes them."""
