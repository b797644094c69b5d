-- Moderators' decisions (registered as new_decisions) replace earlier ones on the same
-- (post, tag, action); the latest verdict stands.
INSERT OR REPLACE INTO decisions SELECT post_id, tag, action, decision, moderator, decided_at, note FROM new_decisions;
