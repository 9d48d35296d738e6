"""Wire protocol: codes, URL paths and messages. Both ends import from here; nothing else
spells a code, a path or a JSON key."""
