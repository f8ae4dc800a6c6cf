-- Arguments an action's definition marks secret (guest.exec env values) are kept out of `args`,
-- which the relay publishes and `cmq` prints: `args` holds "****" in their place, and this column
-- holds them as one keyring ciphertext (v1:<key id>:...), decrypted only by the handler.
ALTER TABLE actions ADD COLUMN secret_args text;
-- `cmq keys rotate` finds them without reading every action.
CREATE INDEX actions_secret_args ON actions (id) WHERE secret_args IS NOT NULL;
