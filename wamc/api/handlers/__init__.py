"""One small module of request handlers per resource; ``wamc/api/routes.py`` routes them."""
