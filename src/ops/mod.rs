//! The administrator's tools around the message flow: `doctor` checks an installation
//! against reality, `backup` copies and restores the store, `export` writes it as plain
//! files, `import` brings an old archive in, `directory` imports people from a CSV file and `ldap` syncs them from the site's directory.
//! None of them is on the path of a message.
//! (Retention and the tutorial robot run with time, in [`crate::scheduler`].)

pub mod backup;
pub mod directory;
pub mod doctor;
pub mod import;
pub mod ldap;
