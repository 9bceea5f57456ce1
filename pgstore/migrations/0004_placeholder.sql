-- PLACEHOLDER on branch h-storesb only, so that 0005 applies here
-- (internal/migrate wants versions without gaps). Another branch brings
-- the real 0004: drop this file when merging.
SELECT 1;
