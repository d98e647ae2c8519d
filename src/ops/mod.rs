//! The administrator's tools around the message flow: `doctor` checks an installation
//! against reality, `backup` copies and restores the store, `export` writes it as plain
//! files, `retention` purges old tickets and forgets people, `import` brings an old
//! archive in, `tutorial` is the robot agent of the practice queue. None of them is on
//! the path of a message.

pub mod backup;
pub mod retention;
pub mod tutorial;
pub mod doctor;
pub mod import;
