-- Throttled runs of an action: how many times the provider's rate limit made it retry without
-- the run counting as an attempt. The subscriber gives back at most `retry.max_throttled` of
-- them; after that a throttled run counts like any other transient failure, so a provider that
-- throttles for ever cannot keep an action retrying for ever. The count also lengthens the
-- backoff between throttled retries.
ALTER TABLE actions ADD COLUMN throttles integer NOT NULL DEFAULT 0;
