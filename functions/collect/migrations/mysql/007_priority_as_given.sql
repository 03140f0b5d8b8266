-- A case's priority is kept as given: the original design's documents carry a number (`1`),
-- others text (`"P1"`). The column holds it as JSON text (`1`, `"P1"`), so each comes back with
-- its own type. (Text, not a JSON column: drivers differ in whether they decode JSON columns.)
ALTER TABLE test_case MODIFY priority VARCHAR(200) NULL;
UPDATE test_case SET priority = JSON_QUOTE(priority) WHERE priority IS NOT NULL AND JSON_VALID(priority) = 0;
