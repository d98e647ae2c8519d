-- PostgreSQL twin of SQLite's 0026: a person's addresses in the order that names their
-- primary one, in place of addresses_person.
CREATE INDEX addresses_person_primary ON addresses(person, is_primary DESC, address);
DROP INDEX addresses_person;
