-- Every read of a ticket names its owner and requester by their primary address
-- (`ORDER BY is_primary DESC, address LIMIT 1` per person): in this index's order the
-- first row is the answer, where addresses_person left a sort into a temporary B-tree
-- for each of them. It serves every look-up by person, so it takes addresses_person's place.
CREATE INDEX addresses_person_primary ON addresses(person, is_primary DESC, address);
DROP INDEX addresses_person;
