-- A counter that every change to `chunks` bumps (triggers also see the rows a deleted lesson or course takes
-- with it), so the vector index saved in `data/index/` can tell whether it is still that of the chunks.
CREATE TABLE search_state (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    chunks_version INTEGER NOT NULL
) STRICT;
INSERT INTO search_state (id, chunks_version) VALUES (1, 0);
CREATE TRIGGER chunks_inserted AFTER INSERT ON chunks
BEGIN
    UPDATE search_state SET chunks_version = chunks_version + 1;
END;
CREATE TRIGGER chunks_deleted AFTER DELETE ON chunks
BEGIN
    UPDATE search_state SET chunks_version = chunks_version + 1;
END;
CREATE TRIGGER chunks_updated AFTER UPDATE ON chunks
BEGIN
    UPDATE search_state SET chunks_version = chunks_version + 1;
END;
