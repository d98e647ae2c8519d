-- An escalation that nobody owns, watches or supervises goes to the admins, and a failing
-- mailbox alerts them: finding them scanned every person (customers included).
CREATE INDEX people_admins ON people(id) WHERE role = 'admin';
