-- posts' primary key, added after the first posts are written (see schema/catalog); catalogs
-- made before had it from the start.
ALTER TABLE posts ADD PRIMARY KEY (post_id);
