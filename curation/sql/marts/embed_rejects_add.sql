-- Files the embedder failed to read, with the reason (registered as new_embed_rejects).
INSERT OR REPLACE INTO embed_rejects SELECT md5, $embedder AS embedder, path, error FROM new_embed_rejects;
