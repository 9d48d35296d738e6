"""Flask blueprints: parse the request, call the service, encode the answer. No decisions here."""
