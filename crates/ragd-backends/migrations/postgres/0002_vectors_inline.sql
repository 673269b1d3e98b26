-- Keep each chunk's vector in its row instead of the TOAST table (pgvector's default storage is
-- EXTERNAL, and a 1.5 KB vector plus the chunk's text passes the 2 KB TOAST threshold): an exact
-- scan of a tenant's chunks then reads one heap tuple per chunk instead of a heap tuple plus a
-- TOAST lookup (measured by bench/query_modes.sh). The text stays compressible/TOASTable.
-- Rows written before this migration keep their storage until they are rewritten.
ALTER TABLE chunks ALTER COLUMN embedding SET STORAGE PLAIN;
