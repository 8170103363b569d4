DROP TRIGGER articles_valid_update;
DROP TRIGGER articles_valid_insert;
