-- Guests get the active flag nodes have had since 005: an inactive guest is kept (its key, its
-- pinned host key, its log offsets) but guest.* actions naming it are refused and the publisher
-- schedules no log collection for it. Every existing guest stays active.
ALTER TABLE guests ADD COLUMN active boolean NOT NULL DEFAULT true;
